-- The schema prisma/migrations build, read back from the database (npm run schema:sql). Do not edit.

CREATE TYPE config_action AS ENUM ('CREATE', 'UPDATE', 'ROLLBACK', 'DELETE', 'RESTORE');

CREATE TYPE config_instance_status AS ENUM ('READY', 'STALE', 'ERROR');

CREATE TABLE _prisma_migrations (
  id character varying(36) NOT NULL,
  checksum character varying(64) NOT NULL,
  finished_at timestamp with time zone,
  migration_name character varying(255) NOT NULL,
  logs text,
  rolled_back_at timestamp with time zone,
  started_at timestamp with time zone NOT NULL DEFAULT now(),
  applied_steps_count integer NOT NULL DEFAULT 0,
  CONSTRAINT _prisma_migrations_pkey PRIMARY KEY (id)
);

CREATE TABLE api_tokens (
  id bigint NOT NULL,
  name text NOT NULL,
  prefix text NOT NULL,
  token_hash bytea NOT NULL,
  role text NOT NULL,
  services text[],
  environments text[],
  expires_at timestamp with time zone,
  revoked_at timestamp with time zone,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  created_by text NOT NULL DEFAULT confighub_actor(),
  last_used_at timestamp with time zone,
  CONSTRAINT api_tokens_environments_check CHECK (((environments IS NULL) OR (cardinality(environments) > 0))),
  CONSTRAINT api_tokens_hash_check CHECK ((octet_length(token_hash) = 32)),
  CONSTRAINT api_tokens_name_check CHECK (((name ~ '^[a-z0-9][a-z0-9._@-]*$'::text) AND (char_length(name) <= 128))),
  CONSTRAINT api_tokens_name_key UNIQUE (name),
  CONSTRAINT api_tokens_pkey PRIMARY KEY (id),
  CONSTRAINT api_tokens_role_check CHECK ((role = ANY (ARRAY['reader'::text, 'editor'::text, 'admin'::text]))),
  CONSTRAINT api_tokens_services_check CHECK (((services IS NULL) OR (cardinality(services) > 0))),
  CONSTRAINT api_tokens_token_hash_key UNIQUE (token_hash)
);

CREATE TABLE change_request_reviews (
  id bigint NOT NULL DEFAULT nextval('change_request_reviews_id_seq'::regclass),
  request_id bigint NOT NULL,
  reviewer text NOT NULL,
  verdict text NOT NULL,
  comment text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  CONSTRAINT change_request_reviews_pkey PRIMARY KEY (id),
  CONSTRAINT change_request_reviews_request_id_fkey FOREIGN KEY (request_id) REFERENCES change_requests(id),
  CONSTRAINT change_request_reviews_verdict_check CHECK ((verdict = ANY (ARRAY['approve'::text, 'reject'::text, 'comment'::text])))
);

CREATE TABLE change_requests (
  id bigint NOT NULL DEFAULT nextval('change_requests_id_seq'::regclass),
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL,
  base_version integer NOT NULL,
  patch jsonb,
  config jsonb,
  description text,
  proposed jsonb NOT NULL,
  reason text NOT NULL,
  author text NOT NULL,
  required_approvals integer NOT NULL,
  state text NOT NULL DEFAULT 'open'::text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  expires_at timestamp with time zone NOT NULL,
  claimed_at timestamp with time zone,
  closed_at timestamp with time zone,
  applied_version integer,
  outcome text,
  CONSTRAINT change_requests_check CHECK (((patch IS NULL) <> (config IS NULL))),
  CONSTRAINT change_requests_pkey PRIMARY KEY (id),
  CONSTRAINT change_requests_state_check CHECK ((state = ANY (ARRAY['open'::text, 'applying'::text, 'applied'::text, 'rejected'::text, 'withdrawn'::text, 'stale'::text])))
);

CREATE TABLE config_audit_log (
  revision bigint NOT NULL DEFAULT nextval('config_audit_log_revision_seq'::regclass),
  config_id integer NOT NULL,
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL,
  version integer NOT NULL,
  action config_action NOT NULL,
  old_config jsonb,
  new_config jsonb,
  changed_by text NOT NULL,
  reason text,
  changed_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT config_audit_log_pkey PRIMARY KEY (revision)
);

CREATE TABLE config_instances (
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL,
  instance_id character varying(256) NOT NULL,
  status config_instance_status NOT NULL,
  applied_version integer,
  rejected_version integer,
  error text,
  first_seen_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  reported_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT config_instances_environment_check CHECK (((environment)::text ~ '^[a-z0-9][a-z0-9._-]*$'::text)),
  CONSTRAINT config_instances_instance_id_check CHECK ((length((instance_id)::text) > 0)),
  CONSTRAINT config_instances_pkey PRIMARY KEY (service_name, environment, instance_id),
  CONSTRAINT config_instances_service_name_check CHECK (((service_name)::text ~ '^[a-z0-9][a-z0-9._-]*$'::text))
);

CREATE TABLE config_outbox (
  revision bigint NOT NULL,
  CONSTRAINT config_outbox_pkey PRIMARY KEY (revision)
);

CREATE TABLE config_overrides (
  id bigint NOT NULL DEFAULT nextval('config_overrides_id_seq'::regclass),
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL,
  version integer NOT NULL,
  changes jsonb NOT NULL,
  expires_at timestamp with time zone NOT NULL,
  created_by text NOT NULL,
  reason text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  state text NOT NULL DEFAULT 'open'::text,
  claimed_at timestamp with time zone,
  reverted_at timestamp with time zone,
  reverted_version integer,
  outcome text,
  CONSTRAINT config_overrides_changes_check CHECK ((jsonb_typeof(changes) = 'array'::text)),
  CONSTRAINT config_overrides_pkey PRIMARY KEY (id),
  CONSTRAINT config_overrides_state_check CHECK ((state = ANY (ARRAY['open'::text, 'reverting'::text, 'reverted'::text])))
);

CREATE TABLE config_rollout_events (
  id bigint NOT NULL DEFAULT nextval('config_rollout_events_id_seq'::regclass),
  rollout_id bigint NOT NULL,
  at timestamp with time zone NOT NULL DEFAULT now(),
  actor text NOT NULL,
  kind text NOT NULL,
  percent integer NOT NULL,
  detail text,
  CONSTRAINT config_rollout_events_kind_check CHECK ((kind = ANY (ARRAY['started'::text, 'advanced'::text, 'promoted'::text, 'completed'::text, 'rolled_back'::text, 'aborted'::text, 'superseded'::text]))),
  CONSTRAINT config_rollout_events_pkey PRIMARY KEY (id),
  CONSTRAINT config_rollout_events_rollout_id_fkey FOREIGN KEY (rollout_id) REFERENCES config_rollouts(id)
);

CREATE TABLE config_rollouts (
  id bigint NOT NULL DEFAULT nextval('config_rollouts_id_seq'::regclass),
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL,
  stable_version integer NOT NULL,
  stable_config jsonb NOT NULL,
  stable_updated_at timestamp with time zone NOT NULL,
  stable_updated_by text NOT NULL,
  candidate_version integer NOT NULL,
  steps integer[] NOT NULL,
  bake_ms integer NOT NULL,
  max_errors integer NOT NULL DEFAULT 0,
  step_index integer NOT NULL DEFAULT 0,
  step_started_at timestamp with time zone NOT NULL DEFAULT now(),
  state text NOT NULL DEFAULT 'active'::text,
  created_by text NOT NULL,
  reason text,
  created_at timestamp with time zone NOT NULL DEFAULT now(),
  claimed_at timestamp with time zone,
  ended_at timestamp with time zone,
  ended_by text,
  rollback_version integer,
  outcome text,
  CONSTRAINT config_rollouts_bake_ms_check CHECK ((bake_ms > 0)),
  CONSTRAINT config_rollouts_check CHECK ((candidate_version = (stable_version + 1))),
  CONSTRAINT config_rollouts_max_errors_check CHECK ((max_errors >= 0)),
  CONSTRAINT config_rollouts_pkey PRIMARY KEY (id),
  CONSTRAINT config_rollouts_state_check CHECK ((state = ANY (ARRAY['active'::text, 'rolling_back'::text, 'completed'::text, 'rolled_back'::text, 'aborted'::text, 'superseded'::text]))),
  CONSTRAINT config_rollouts_steps_check CHECK (((cardinality(steps) >= 1) AND (cardinality(steps) <= 10)))
);

CREATE TABLE config_schemas (
  id integer NOT NULL DEFAULT nextval('config_schemas_id_seq'::regclass),
  service_name character varying(128) NOT NULL,
  version integer NOT NULL,
  schema jsonb NOT NULL,
  created_by text NOT NULL,
  reason text,
  created_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT config_schemas_pkey PRIMARY KEY (id),
  CONSTRAINT config_schemas_schema_object_check CHECK ((jsonb_typeof(schema) = 'object'::text)),
  CONSTRAINT config_schemas_service_name_check CHECK (((service_name)::text ~ '^[a-z0-9][a-z0-9._-]*$'::text))
);

CREATE TABLE protected_environments (
  environment character varying(128) NOT NULL,
  required_approvals integer NOT NULL,
  protected_by text NOT NULL,
  protected_at timestamp with time zone NOT NULL DEFAULT now(),
  reason text,
  CONSTRAINT protected_environments_pkey PRIMARY KEY (environment),
  CONSTRAINT protected_environments_required_approvals_check CHECK (((required_approvals >= 1) AND (required_approvals <= 10)))
);

CREATE TABLE service_configs (
  id integer NOT NULL DEFAULT nextval('service_configs_id_seq'::regclass),
  service_name character varying(128) NOT NULL,
  environment character varying(128) NOT NULL DEFAULT 'production'::character varying,
  config jsonb NOT NULL,
  version integer NOT NULL DEFAULT 1,
  description text,
  created_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamp(6) with time zone NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_by text NOT NULL,
  deleted_at timestamp(6) with time zone,
  CONSTRAINT service_configs_config_object_check CHECK ((jsonb_typeof(config) = 'object'::text)),
  CONSTRAINT service_configs_environment_check CHECK (((environment)::text ~ '^[a-z0-9][a-z0-9._-]*$'::text)),
  CONSTRAINT service_configs_pkey PRIMARY KEY (id),
  CONSTRAINT service_configs_service_name_check CHECK (((service_name)::text ~ '^[a-z0-9][a-z0-9._-]*$'::text)),
  CONSTRAINT service_configs_version_check CHECK ((version >= 1))
);

CREATE UNIQUE INDEX _prisma_migrations_pkey ON public._prisma_migrations USING btree (id);

CREATE UNIQUE INDEX api_tokens_name_key ON public.api_tokens USING btree (name);

CREATE UNIQUE INDEX api_tokens_pkey ON public.api_tokens USING btree (id);

CREATE INDEX api_tokens_prefix_idx ON public.api_tokens USING btree (prefix);

CREATE UNIQUE INDEX api_tokens_token_hash_key ON public.api_tokens USING btree (token_hash);

CREATE UNIQUE INDEX change_request_reviews_one_approval ON public.change_request_reviews USING btree (request_id, reviewer) WHERE (verdict = 'approve'::text);

CREATE UNIQUE INDEX change_request_reviews_pkey ON public.change_request_reviews USING btree (id);

CREATE INDEX change_request_reviews_request ON public.change_request_reviews USING btree (request_id, id);

CREATE INDEX change_requests_config ON public.change_requests USING btree (service_name, environment, id DESC);

CREATE INDEX change_requests_open ON public.change_requests USING btree (id) WHERE (state = ANY (ARRAY['open'::text, 'applying'::text]));

CREATE UNIQUE INDEX change_requests_pkey ON public.change_requests USING btree (id);

CREATE UNIQUE INDEX config_audit_log_config_id_version_key ON public.config_audit_log USING btree (config_id, version);

CREATE UNIQUE INDEX config_audit_log_pkey ON public.config_audit_log USING btree (revision);

CREATE INDEX config_audit_log_service_name_environment_revision_idx ON public.config_audit_log USING btree (service_name, environment, revision);

CREATE INDEX config_audit_log_service_name_environment_version_idx ON public.config_audit_log USING btree (service_name, environment, version DESC);

CREATE UNIQUE INDEX config_instances_pkey ON public.config_instances USING btree (service_name, environment, instance_id);

CREATE UNIQUE INDEX config_outbox_pkey ON public.config_outbox USING btree (revision);

CREATE INDEX config_overrides_config ON public.config_overrides USING btree (service_name, environment, created_at DESC);

CREATE INDEX config_overrides_due ON public.config_overrides USING btree (expires_at) WHERE (state <> 'reverted'::text);

CREATE UNIQUE INDEX config_overrides_pkey ON public.config_overrides USING btree (id);

CREATE UNIQUE INDEX config_rollout_events_pkey ON public.config_rollout_events USING btree (id);

CREATE INDEX config_rollout_events_rollout ON public.config_rollout_events USING btree (rollout_id, id);

CREATE INDEX config_rollouts_config ON public.config_rollouts USING btree (service_name, environment, id DESC);

CREATE UNIQUE INDEX config_rollouts_one_active ON public.config_rollouts USING btree (service_name, environment) WHERE (state = ANY (ARRAY['active'::text, 'rolling_back'::text]));

CREATE UNIQUE INDEX config_rollouts_pkey ON public.config_rollouts USING btree (id);

CREATE UNIQUE INDEX config_schemas_pkey ON public.config_schemas USING btree (id);

CREATE UNIQUE INDEX config_schemas_service_name_version_key ON public.config_schemas USING btree (service_name, version);

CREATE UNIQUE INDEX protected_environments_pkey ON public.protected_environments USING btree (environment);

CREATE UNIQUE INDEX service_configs_pkey ON public.service_configs USING btree (id);

CREATE UNIQUE INDEX service_configs_service_name_environment_key ON public.service_configs USING btree (service_name, environment);

CREATE OR REPLACE FUNCTION public.api_tokens_guard()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'token "%" is revoked for good', OLD.name USING ERRCODE = 'CH422';
    END IF;
    IF NEW.name <> OLD.name OR NEW.created_at <> OLD.created_at OR NEW.created_by <> OLD.created_by THEN
        RAISE EXCEPTION 'a token''s name and creation are immutable' USING ERRCODE = 'CH422';
    END IF;
    RETURN NEW;
END;
$function$;

CREATE OR REPLACE FUNCTION public.api_tokens_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('api_tokens', NEW.id::text);
    RETURN NULL;
END;
$function$;

CREATE OR REPLACE FUNCTION public.config_rollouts_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('config_rollouts', '');
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.config_schemas_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('config_schemas', NEW.service_name);
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.confighub_actor()
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT coalesce(nullif(current_setting('confighub.actor', true), ''), current_user::text)
$function$;

CREATE OR REPLACE FUNCTION public.confighub_claim_outbox(max_changes integer)
 RETURNS SETOF config_audit_log
 LANGUAGE plpgsql
AS $function$
DECLARE
    claimed bigint[];
BEGIN
    IF NOT pg_try_advisory_xact_lock(72707370) THEN
        RETURN;
    END IF;
    claimed := ARRAY(SELECT revision FROM config_outbox ORDER BY revision LIMIT max_changes);
    IF cardinality(claimed) = 0 THEN
        RETURN;
    END IF;
    DELETE FROM config_outbox WHERE revision = ANY (claimed);
    RETURN QUERY SELECT * FROM config_audit_log WHERE revision = ANY (claimed) ORDER BY revision;
END
$function$;

CREATE OR REPLACE FUNCTION public.confighub_reason()
 RETURNS text
 LANGUAGE sql
 STABLE
AS $function$
    SELECT nullif(current_setting('confighub.reason', true), '')
$function$;

CREATE OR REPLACE FUNCTION public.confighub_refuse_change()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'confighub: % is append-only (% refused)', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$function$;

CREATE OR REPLACE FUNCTION public.confighub_refuse_truncate()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    RAISE EXCEPTION 'confighub: TRUNCATE of % is refused (changes must be audited row by row)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$function$;

CREATE OR REPLACE FUNCTION public.confighub_row_author(p_config_id integer)
 RETURNS jsonb
 LANGUAGE sql
 STABLE
AS $function$
    SELECT nullif(current_setting('confighub.authors', true), '')::jsonb -> p_config_id::text
$function$;

CREATE OR REPLACE FUNCTION public.get_config_history(p_service text, p_environment text DEFAULT 'production'::text, p_limit integer DEFAULT 50)
 RETURNS SETOF config_audit_log
 LANGUAGE sql
 STABLE
AS $function$
    SELECT *
      FROM config_audit_log
     WHERE service_name = p_service AND environment = p_environment
     ORDER BY revision DESC
     LIMIT greatest(p_limit, 0)
$function$;

CREATE OR REPLACE FUNCTION public.protected_environments_notify()
 RETURNS trigger
 LANGUAGE plpgsql
AS $function$
BEGIN
    PERFORM pg_notify('protected_environments', '');
    RETURN NULL;
END
$function$;

CREATE OR REPLACE FUNCTION public.rollback_config(p_service text, p_version integer, p_actor text DEFAULT NULL::text, p_environment text DEFAULT 'production'::text, p_reason text DEFAULT NULL::text, p_expected_version integer DEFAULT NULL::integer)
 RETURNS service_configs
 LANGUAGE plpgsql
AS $function$
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

CREATE TRIGGER api_tokens_guard BEFORE UPDATE ON public.api_tokens FOR EACH ROW EXECUTE FUNCTION api_tokens_guard();

CREATE TRIGGER api_tokens_no_delete BEFORE DELETE OR TRUNCATE ON public.api_tokens FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_change();

CREATE TRIGGER api_tokens_notify AFTER INSERT OR UPDATE OF token_hash, role, services, environments, expires_at, revoked_at ON public.api_tokens FOR EACH ROW EXECUTE FUNCTION api_tokens_notify();

CREATE TRIGGER config_audit_log_immutable BEFORE UPDATE ON public.config_audit_log FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

CREATE TRIGGER config_audit_log_no_delete BEFORE DELETE ON public.config_audit_log FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

CREATE TRIGGER config_audit_log_no_truncate BEFORE TRUNCATE ON public.config_audit_log FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();

CREATE TRIGGER config_rollouts_notify AFTER INSERT OR DELETE OR UPDATE ON public.config_rollouts FOR EACH STATEMENT EXECUTE FUNCTION config_rollouts_notify();

CREATE TRIGGER config_schemas_append_only BEFORE DELETE OR UPDATE ON public.config_schemas FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();

CREATE TRIGGER config_schemas_no_truncate BEFORE TRUNCATE ON public.config_schemas FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();

CREATE TRIGGER config_schemas_notify AFTER INSERT ON public.config_schemas FOR EACH ROW EXECUTE FUNCTION config_schemas_notify();

CREATE TRIGGER protected_environments_notify AFTER INSERT OR DELETE OR UPDATE ON public.protected_environments FOR EACH STATEMENT EXECUTE FUNCTION protected_environments_notify();

CREATE TRIGGER service_configs_audit AFTER INSERT OR DELETE ON public.service_configs FOR EACH ROW EXECUTE FUNCTION service_configs_audit();

CREATE TRIGGER service_configs_audit_updates AFTER UPDATE ON public.service_configs REFERENCING OLD TABLE AS previous_rows NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION service_configs_audit_updates();

CREATE TRIGGER service_configs_no_truncate BEFORE TRUNCATE ON public.service_configs FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_truncate();

CREATE TRIGGER service_configs_version_rule BEFORE INSERT OR UPDATE ON public.service_configs FOR EACH ROW EXECUTE FUNCTION service_configs_version_rule();
