-- The fleet report: which instance of a service runs which version of its config, and when it last
-- said so. One row per (service, environment, instance id), upserted by every report. This is the
-- fleet's current state, not history: it is not audited and not published.

CREATE TYPE "config_instance_status" AS ENUM ('READY', 'STALE', 'ERROR');

CREATE TABLE "config_instances" (
    "service_name" VARCHAR(128) NOT NULL,
    "environment" VARCHAR(128) NOT NULL,
    "instance_id" VARCHAR(256) NOT NULL,
    "status" "config_instance_status" NOT NULL,
    "applied_version" INTEGER,
    "rejected_version" INTEGER,
    "error" TEXT,
    "first_seen_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "reported_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "config_instances_pkey" PRIMARY KEY ("service_name", "environment", "instance_id"),
    CONSTRAINT "config_instances_service_name_check" CHECK ("service_name" ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    CONSTRAINT "config_instances_environment_check" CHECK ("environment" ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    CONSTRAINT "config_instances_instance_id_check" CHECK (length("instance_id") > 0)
);
