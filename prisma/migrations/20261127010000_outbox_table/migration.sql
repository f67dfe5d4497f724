-- The outbox moves out of the audit log into a table of its own. Marking an audit row published
-- rewrote the whole row (both documents, every index entry) once per change and left as many dead rows
-- behind; a change now waits in config_outbox, as its revision alone, until the relay publishes it and
-- deletes the entry in the same transaction. The audit log becomes append-only without exception.

-- No foreign key to config_audit_log: audit rows are never deleted, and the check would cost every write.
CREATE TABLE config_outbox (
    revision BIGINT PRIMARY KEY
);

INSERT INTO config_outbox (revision) SELECT revision FROM config_audit_log WHERE published_at IS NULL;

DROP TRIGGER config_audit_log_published_once ON config_audit_log;
DROP TRIGGER config_audit_log_immutable ON config_audit_log;
DROP INDEX config_audit_log_unpublished_idx;
ALTER TABLE config_audit_log DROP COLUMN published_at;

CREATE TRIGGER config_audit_log_immutable
    BEFORE UPDATE ON config_audit_log
    FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

-- Every change enters the outbox in the transaction that makes it (as before, whoever makes it).
-- The audit row and the outbox entry are written with the rights of the function's owner (the hub's
-- database user, which owns the tables), not of whoever changes the config: an operator needs SELECT and
-- UPDATE on service_configs to change configs from psql, and no right to write the audit log or the
-- outbox, so no other role can forge an audit row. The actor was worked out before, with the caller's
-- rights (service_configs_version_rule sets updated_by); for a hard DELETE, which that trigger does not
-- see, it is confighub.actor or else the login role (session_user: current_user here is the owner).
CREATE OR REPLACE FUNCTION service_configs_audit() RETURNS trigger LANGUAGE plpgsql
SECURITY DEFINER SET search_path FROM CURRENT AS $$
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
                coalesce(nullif(current_setting('confighub.actor', true), ''), session_user::text), confighub_reason())
        RETURNING revision INTO change_revision;
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

-- The relay's claim, in one round trip: the relay lock first, then (in statements of their own, so with
-- snapshots taken after the previous holder committed) the oldest waiting changes, taken out of the
-- outbox and returned whole. The caller publishes them and commits; if it cannot, it rolls back and
-- they wait again. Instances relay one at a time: without the lock this returns nothing. The claimed
-- revisions are an array so that both lookups go through the primary keys whatever the planner guesses
-- of the outbox's size (a queue's statistics are always stale).
CREATE FUNCTION confighub_claim_outbox(max_changes integer)
RETURNS SETOF config_audit_log LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    claimed bigint[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(72707370) THEN
        RETURN;
    END IF;
    claimed := ARRAY(SELECT revision FROM config_outbox ORDER BY revision LIMIT max_changes FOR UPDATE SKIP LOCKED);
    IF cardinality(claimed) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM config_outbox WHERE revision = ANY (claimed);
    RETURN QUERY SELECT * FROM config_audit_log WHERE revision = ANY (claimed) ORDER BY revision;
END
$$;
