-- Marking a change published must stay cheap when thousands wait (NATS was away, or a bulk UPDATE in
-- SQL): the append-only check no longer compares whole rows as JSON. Column triggers fire only for the
-- columns an UPDATE names, so marking (which names only published_at) skips the immutability check,
-- and the published_at check is a WHEN clause, decided without calling a function.

CREATE FUNCTION confighub_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'confighub: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

DROP TRIGGER config_audit_log_append_only ON config_audit_log;
DROP FUNCTION config_audit_log_append_only();

CREATE TRIGGER config_audit_log_no_delete
    BEFORE DELETE ON config_audit_log
    FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

CREATE TRIGGER config_audit_log_immutable
    BEFORE UPDATE OF revision, config_id, service_name, environment, version, action,
                     old_config, new_config, changed_by, reason, changed_at
    ON config_audit_log
    FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

-- Published once: set from NULL, never changed or cleared after.
CREATE TRIGGER config_audit_log_published_once
    BEFORE UPDATE OF published_at ON config_audit_log
    FOR EACH ROW WHEN (OLD.published_at IS NOT NULL OR NEW.published_at IS NULL)
    EXECUTE FUNCTION confighub_refuse_change();
