-- The audit log is the outbox: a change is published to NATS once, after commit, and its row is then
-- marked (never deleted: it is the audit trail). Unpublished rows are found through a partial index.
ALTER TABLE "config_audit_log" ADD COLUMN "published_at" TIMESTAMPTZ(6);

CREATE INDEX "config_audit_log_unpublished_idx" ON "config_audit_log"("revision") WHERE "published_at" IS NULL;

-- Append-only, but for marking a row published (once).
CREATE OR REPLACE FUNCTION config_audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.published_at IS NULL AND NEW.published_at IS NOT NULL
       AND (to_jsonb(NEW) - 'published_at') = (to_jsonb(OLD) - 'published_at') THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'confighub: config_audit_log is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

-- Rows that exist before the outbox are history, not news.
UPDATE "config_audit_log" SET "published_at" = "changed_at" WHERE "published_at" IS NULL;
