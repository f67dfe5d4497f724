-- History in the order changes happened: by revision (a config deleted and created again reuses
-- version numbers, so ordering by version interleaves the two lives).
CREATE OR REPLACE FUNCTION get_config_history(p_service text, p_environment text DEFAULT 'production', p_limit integer DEFAULT 50)
RETURNS SETOF config_audit_log LANGUAGE sql STABLE AS $$
    SELECT *
      FROM config_audit_log
     WHERE service_name = p_service AND environment = p_environment
     ORDER BY revision DESC
     LIMIT greatest(p_limit, 0)
$$;

-- TRUNCATE skips row triggers: it would empty the audit log, or change configs unaudited. Refuse it.
CREATE FUNCTION confighub_refuse_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'confighub: TRUNCATE of % is refused (changes must be audited row by row)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER config_audit_log_no_truncate BEFORE TRUNCATE ON config_audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();
CREATE TRIGGER service_configs_no_truncate BEFORE TRUNCATE ON service_configs
    FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();
CREATE TRIGGER config_schemas_no_truncate BEFORE TRUNCATE ON config_schemas
    FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();
