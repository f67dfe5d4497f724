-- A rollback through the gateway is one more row of its batched UPDATE: each row's author (the
-- transaction-local setting confighub.authors, keyed by config id) may say {"action": "ROLLBACK"}, which
-- the audit trigger records as such. The SQL function rollback_config, for operators, says it for the
-- whole transaction (confighub.action), as before.
CREATE OR REPLACE FUNCTION public.service_configs_audit_updates()
 RETURNS trigger
 LANGUAGE plpgsql
 SECURITY DEFINER
 SET search_path TO 'public'
AS $function$
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
                    WHEN rolling_back OR authors -> n.id::text ->> 'action' = 'ROLLBACK' THEN 'ROLLBACK'
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
$function$;
