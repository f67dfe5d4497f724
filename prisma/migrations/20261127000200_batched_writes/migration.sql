-- Batched writes (group commit): the gateway writes the changes of several configs that arrive together
-- in ONE statement, each still with its own actor and reason in its audit row. The statement sets the
-- transaction-local setting confighub.authors to a JSON object keyed by config id,
--     {"17": {"actor": "alice", "reason": "raise the batch size"}, "42": {"actor": "bob", "reason": null}}
-- and the triggers take a row's author from it when the row's id is there. Everyone else (psql, the SQL
-- functions, single writes) is unaffected: without that setting, or for an id it does not name, actor
-- and reason come from confighub.actor / confighub.reason as before.

-- The author the writing statement gave for one config, or NULL.
CREATE FUNCTION confighub_row_author(p_config_id integer) RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('confighub.authors', true), '')::jsonb -> p_config_id::text
$$;

CREATE OR REPLACE FUNCTION service_configs_version_rule() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    row_author jsonb;
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
    row_author := confighub_row_author(NEW.id);
    NEW.updated_by := coalesce(nullif(row_author ->> 'actor', ''), confighub_actor());
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION service_configs_audit() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_action config_action;
    change_revision bigint;
    change_reason text;
    row_author jsonb;
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
        row_author := confighub_row_author(NEW.id);
        change_reason := CASE WHEN row_author IS NULL THEN confighub_reason() ELSE nullif(row_author ->> 'reason', '') END;
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (NEW.id, NEW.service_name, NEW.environment, NEW.version, change_action,
                CASE WHEN OLD.deleted_at IS NULL THEN OLD.config END,
                CASE WHEN NEW.deleted_at IS NULL THEN NEW.config END,
                NEW.updated_by, change_reason)
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
