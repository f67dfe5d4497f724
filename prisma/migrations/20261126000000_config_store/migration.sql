-- confighub config store: tables (as Prisma maps them), the version and audit triggers,
-- and the SQL functions operators call from psql.

-- CreateEnum
CREATE TYPE "config_action" AS ENUM ('CREATE', 'UPDATE', 'ROLLBACK', 'DELETE', 'RESTORE');

-- CreateTable
CREATE TABLE "service_configs" (
    "id" SERIAL NOT NULL,
    "service_name" VARCHAR(128) NOT NULL,
    "environment" VARCHAR(128) NOT NULL DEFAULT 'production',
    "config" JSONB NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "description" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" TEXT NOT NULL,
    "deleted_at" TIMESTAMPTZ(6),

    CONSTRAINT "service_configs_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "config_audit_log" (
    "revision" BIGSERIAL NOT NULL,
    "config_id" INTEGER NOT NULL,
    "service_name" VARCHAR(128) NOT NULL,
    "environment" VARCHAR(128) NOT NULL,
    "version" INTEGER NOT NULL,
    "action" "config_action" NOT NULL,
    "old_config" JSONB,
    "new_config" JSONB,
    "changed_by" TEXT NOT NULL,
    "reason" TEXT,
    "changed_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "config_audit_log_pkey" PRIMARY KEY ("revision")
);

-- CreateIndex
CREATE UNIQUE INDEX "service_configs_service_name_environment_key" ON "service_configs"("service_name", "environment");

-- CreateIndex
CREATE UNIQUE INDEX "config_audit_log_config_id_version_key" ON "config_audit_log"("config_id", "version");

-- CreateIndex
CREATE INDEX "config_audit_log_service_name_environment_version_idx" ON "config_audit_log"("service_name", "environment", "version" DESC);

-- Names and documents are checked by the database too, so psql cannot store what the API refuses.
ALTER TABLE "service_configs"
    ADD CONSTRAINT "service_configs_service_name_check" CHECK ("service_name" ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    ADD CONSTRAINT "service_configs_environment_check" CHECK ("environment" ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    ADD CONSTRAINT "service_configs_config_object_check" CHECK (jsonb_typeof("config") = 'object'),
    ADD CONSTRAINT "service_configs_version_check" CHECK ("version" >= 1);

-- Who is changing what, and why: set with set_config(..., true) inside the writing transaction.
-- A session without them (an operator in psql) is recorded as the database user.
CREATE FUNCTION confighub_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('confighub.actor', true), ''), current_user::text)
$$;

CREATE FUNCTION confighub_reason() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('confighub.reason', true), '')
$$;

-- Version rule: a new config starts at 1; every UPDATE raises the version by exactly 1.
-- A writer may leave version alone (the trigger raises it) or set OLD.version + 1; anything else fails.
CREATE FUNCTION service_configs_version_rule() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
        NEW.created_at := now();
        NEW.updated_at := now();
        NEW.updated_by := confighub_actor();
        RETURN NEW;
    END IF;
    IF NEW.id <> OLD.id OR NEW.service_name <> OLD.service_name OR NEW.environment <> OLD.environment THEN
        RAISE EXCEPTION 'confighub: the identity of a config (id, service_name, environment) cannot change'
            USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.version = OLD.version THEN
        NEW.version := OLD.version + 1;
    ELSIF NEW.version <> OLD.version + 1 THEN
        RAISE EXCEPTION 'confighub: version of %/% must rise by exactly 1 (from % to %, not %)',
            OLD.service_name, OLD.environment, OLD.version, OLD.version + 1, NEW.version
            USING ERRCODE = 'check_violation';
    END IF;
    NEW.created_at := OLD.created_at;
    NEW.updated_at := now();
    NEW.updated_by := confighub_actor();
    RETURN NEW;
END
$$;

CREATE TRIGGER service_configs_version_rule
    BEFORE INSERT OR UPDATE ON service_configs
    FOR EACH ROW EXECUTE FUNCTION service_configs_version_rule();

-- The audit row of every change, whoever makes it. It is also the outbox entry of the change:
-- listeners on channel config_changes are told its revision, service, environment and version.
CREATE FUNCTION service_configs_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_action config_action;
    change_revision bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (NEW.id, NEW.service_name, NEW.environment, NEW.version, 'CREATE',
                NULL, NEW.config, NEW.updated_by, confighub_reason())
        RETURNING revision INTO change_revision;
    ELSIF TG_OP = 'UPDATE' THEN
        IF OLD.deleted_at IS NULL AND NEW.deleted_at IS NOT NULL THEN
            change_action := 'DELETE';
        ELSIF current_setting('confighub.action', true) = 'ROLLBACK' THEN
            change_action := 'ROLLBACK';
        ELSIF OLD.deleted_at IS NOT NULL AND NEW.deleted_at IS NULL THEN
            change_action := 'RESTORE';
        ELSE
            change_action := 'UPDATE';
        END IF;
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (NEW.id, NEW.service_name, NEW.environment, NEW.version, change_action,
                CASE WHEN OLD.deleted_at IS NULL THEN OLD.config END,
                CASE WHEN NEW.deleted_at IS NULL THEN NEW.config END,
                NEW.updated_by, confighub_reason())
        RETURNING revision INTO change_revision;
    ELSE
        -- A hard DELETE (only possible from SQL): recorded as the config's last version.
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (OLD.id, OLD.service_name, OLD.environment, OLD.version + 1, 'DELETE',
                CASE WHEN OLD.deleted_at IS NULL THEN OLD.config END, NULL,
                confighub_actor(), confighub_reason())
        RETURNING revision INTO change_revision;
    END IF;
    PERFORM pg_notify('config_changes', json_build_object(
        'revision', change_revision,
        'service', coalesce(NEW.service_name, OLD.service_name),
        'environment', coalesce(NEW.environment, OLD.environment),
        'version', CASE WHEN TG_OP = 'DELETE' THEN OLD.version + 1 ELSE NEW.version END)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER service_configs_audit
    AFTER INSERT OR UPDATE OR DELETE ON service_configs
    FOR EACH ROW EXECUTE FUNCTION service_configs_audit();

-- The audit log is append-only.
CREATE FUNCTION config_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'confighub: config_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER config_audit_log_append_only
    BEFORE UPDATE OR DELETE ON config_audit_log
    FOR EACH ROW EXECUTE FUNCTION config_audit_log_append_only();

-- History of one config, newest first.
CREATE FUNCTION get_config_history(p_service text, p_environment text DEFAULT 'production', p_limit integer DEFAULT 50)
RETURNS SETOF config_audit_log LANGUAGE sql STABLE AS $$
    SELECT *
      FROM config_audit_log
     WHERE service_name = p_service AND environment = p_environment
     ORDER BY version DESC
     LIMIT greatest(p_limit, 0)
$$;

-- Roll a config back to the content it had at p_version. Writes a NEW version (history is never
-- rewritten), audited as ROLLBACK by p_actor. Restores a soft-deleted config too.
-- Errors carry SQLSTATEs of class CH so callers can tell them apart:
-- CH404 no such config or version, CH409 p_expected_version is not the current version,
-- CH422 the version holds no config (it is a deletion).
CREATE FUNCTION rollback_config(p_service text, p_version integer, p_actor text DEFAULT NULL,
                                p_environment text DEFAULT 'production', p_reason text DEFAULT NULL,
                                p_expected_version integer DEFAULT NULL)
RETURNS service_configs LANGUAGE plpgsql AS $$
DECLARE
    current_row service_configs;
    target_config jsonb;
    result_row service_configs;
BEGIN
    SELECT * INTO current_row FROM service_configs
     WHERE service_name = p_service AND environment = p_environment
       FOR UPDATE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'confighub: no config %/%', p_service, p_environment
            USING ERRCODE = 'CH404';
    END IF;
    IF p_expected_version IS NOT NULL AND p_expected_version <> current_row.version THEN
        RAISE EXCEPTION 'confighub: %/% is at version %, not %', p_service, p_environment,
            current_row.version, p_expected_version
            USING ERRCODE = 'CH409', DETAIL = current_row.version::text;
    END IF;
    SELECT new_config INTO target_config FROM config_audit_log
     WHERE config_id = current_row.id AND version = p_version;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'confighub: %/% has no version % (current version %)',
            p_service, p_environment, p_version, current_row.version
            USING ERRCODE = 'CH404';
    END IF;
    IF target_config IS NULL THEN
        RAISE EXCEPTION 'confighub: version % of %/% is a deletion and holds no config',
            p_version, p_service, p_environment
            USING ERRCODE = 'CH422';
    END IF;
    IF p_actor IS NOT NULL THEN
        PERFORM set_config('confighub.actor', p_actor, true);
    END IF;
    IF p_reason IS NOT NULL THEN
        PERFORM set_config('confighub.reason', p_reason, true);
    ELSIF confighub_reason() IS NULL THEN
        PERFORM set_config('confighub.reason', format('rollback to version %s', p_version), true);
    END IF;
    PERFORM set_config('confighub.action', 'ROLLBACK', true);
    UPDATE service_configs
       SET config = target_config, deleted_at = NULL
     WHERE id = current_row.id
    RETURNING * INTO result_row;
    PERFORM set_config('confighub.action', '', true);
    RETURN result_row;
END
$$;
