-- A create through the gateway names its author as every other write does: in the transaction-local
-- setting confighub.authors, keyed by the new row's id (taken from the sequence by the same statement).
-- confighub.actor and confighub.reason stay what an operator sets in psql, for every kind of change.
CREATE OR REPLACE FUNCTION public.service_configs_version_rule()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
DECLARE
    row_author jsonb;
BEGIN
    IF TG_OP = 'INSERT' THEN
        NEW.version := 1;
        NEW.created_at := now();
        NEW.updated_at := now();
        NEW.updated_by := coalesce(nullif(confighub_row_author(NEW.id) ->> 'actor', ''), confighub_actor());
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
$function$;

CREATE OR REPLACE FUNCTION public.service_configs_audit()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public'
AS $function$
DECLARE
    change_revision bigint;
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO config_audit_log (config_id, service_name, environment, version, action,
                                      old_config, new_config, changed_by, reason)
        VALUES (NEW.id, NEW.service_name, NEW.environment, NEW.version, 'CREATE',
                NULL, NEW.config, NEW.updated_by,
                CASE WHEN confighub_row_author(NEW.id) IS NULL THEN confighub_reason()
                     ELSE nullif(confighub_row_author(NEW.id) ->> 'reason', '') END)
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
$function$;
