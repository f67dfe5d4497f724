-- A rollback to the content a config already has writes no new version (as the API's does not):
-- rollback_config returns the row as it is.
CREATE OR REPLACE FUNCTION rollback_config(p_service text, p_version integer, p_actor text DEFAULT NULL,
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
    -- Like an update to the content a config has, a rollback to it writes nothing.
    IF current_row.deleted_at IS NULL AND current_row.config = target_config THEN
        RETURN current_row;
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
