-- Updates are audited once per statement instead of once per row. The gateway writes the changes of
-- several configs in one UPDATE (group commit), and the row trigger ran, for each row, an INSERT into
-- the audit log, one into the outbox, a pg_notify and two parses of the statement's authors, each its
-- own executor start: about half of the database's CPU per row. The statement trigger reads the rows
-- the UPDATE changed (transition tables) and does the same in one INSERT, one outbox INSERT and one
-- query of notifications, with the authors parsed once. What it records is unchanged: one audit row per
-- changed row, its action, actor and reason, old and new document, revisions in config id order, a
-- notification per change in revision order. INSERT and DELETE (one row at a time in practice) keep the
-- row trigger; PostgreSQL allows transition tables only on a trigger of a single event.

CREATE OR REPLACE FUNCTION service_configs_audit() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    change_revision bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (NEW.id, NEW.service_name, NEW.environment, NEW.version, 'CREATE',
                NULL, NEW.config, NEW.updated_by, confighub_reason())
        RETURNING revision INTO change_revision;
    ELSIF TG_OP = 'DELETE' THEN
        -- A hard DELETE (only possible from SQL): recorded as the config's last version.
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (OLD.id, OLD.service_name, OLD.environment, OLD.version + 1, 'DELETE',
                CASE WHEN OLD.deleted_at IS NULL THEN OLD.config END, NULL,
                coalesce(nullif(current_setting('confighub.actor', true), ''), session_user::text), confighub_reason())
        RETURNING revision INTO change_revision;
    ELSE
        RAISE EXCEPTION 'service_configs_audit() audits INSERT and DELETE; updates go through service_configs_audit_updates()';
    END IF;
    INSERT INTO config_outbox (revision) VALUES (change_revision);
    PERFORM pg_notify('config_changes', json_build_object(
        'revision', change_revision,
        'service', coalesce(NEW.service_name, OLD.service_name),
        'environment', coalesce(NEW.environment, OLD.environment),
        'version', CASE WHEN TG_OP = 'DELETE' THEN OLD.version + 1 ELSE NEW.version END)::text);
    RETURN NULL;
END
$$;

-- With the rights of the function's owner, as the row trigger (see 20261127010000_outbox_table). The
-- actor was set on each row by service_configs_version_rule; the reason is the row's own from
-- confighub.authors when the statement named it, else confighub.reason.
CREATE FUNCTION service_configs_audit_updates() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
DECLARE
    authors jsonb := nullif(current_setting('confighub.authors', true), '')::jsonb;
    rolling_back boolean := coalesce(current_setting('confighub.action', true) = 'ROLLBACK', false);
    announced integer;
BEGIN
    WITH changes AS (
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        SELECT n.id, n.service_name, n.environment, n.version,
               CASE WHEN o.deleted_at IS NULL AND n.deleted_at IS NOT NULL THEN 'DELETE'
                    WHEN rolling_back THEN 'ROLLBACK'
                    WHEN o.deleted_at IS NOT NULL AND n.deleted_at IS NULL THEN 'RESTORE'
                    ELSE 'UPDATE' END::config_action,
               CASE WHEN o.deleted_at IS NULL THEN o.config END,
               CASE WHEN n.deleted_at IS NULL THEN n.config END,
               n.updated_by,
               CASE WHEN authors -> n.id::text IS NULL THEN confighub_reason()
                    ELSE nullif(authors -> n.id::text ->> 'reason', '') END
          FROM changed_rows n JOIN previous_rows o ON o.id = n.id
         ORDER BY n.id
        RETURNING revision, service_name, environment, version
    ), queued AS (
        INSERT INTO config_outbox (revision) SELECT revision FROM changes
    )
    SELECT count(*) INTO announced
      FROM (SELECT pg_notify('config_changes', json_build_object(
                       'revision', revision, 'service', service_name,
                       'environment', environment, 'version', version)::text)
              FROM changes ORDER BY revision) AS sent;
    RETURN NULL;
END
$$;

DROP TRIGGER service_configs_audit ON service_configs;
CREATE TRIGGER service_configs_audit
    AFTER INSERT OR DELETE ON service_configs
    FOR EACH ROW EXECUTE FUNCTION service_configs_audit();
CREATE TRIGGER service_configs_audit_updates
    AFTER UPDATE ON service_configs
    REFERENCING OLD TABLE AS previous_rows NEW TABLE AS changed_rows
    FOR EACH STATEMENT EXECUTE FUNCTION service_configs_audit_updates();
