-- API tokens: only a SHA-256 digest of each token is kept, with a short visible prefix to tell them
-- apart. A token has a role, optionally the services (exact names or globs such as polygon-*) and
-- environments it may touch, an expiry, and a revocation time. Rows are never deleted: a revoked
-- token stays listed, so the audit log's actors keep their meaning.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         TEXT        NOT NULL UNIQUE,
    prefix       TEXT        NOT NULL,
    token_hash   BYTEA       NOT NULL UNIQUE,
    role         TEXT        NOT NULL,
    services     TEXT[],
    environments TEXT[],
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    created_by   TEXT        NOT NULL DEFAULT confighub_actor(),
    last_used_at TIMESTAMPTZ,
    CONSTRAINT api_tokens_name_check CHECK (name ~ '^[a-z0-9][a-z0-9._@-]{0,127}$'),
    CONSTRAINT api_tokens_role_check CHECK (role IN ('reader', 'editor', 'admin')),
    CONSTRAINT api_tokens_hash_check CHECK (octet_length(token_hash) = 32),
    CONSTRAINT api_tokens_services_check CHECK (services IS NULL OR cardinality(services) > 0),
    CONSTRAINT api_tokens_environments_check CHECK (environments IS NULL OR cardinality(environments) > 0)
);

CREATE INDEX api_tokens_prefix_idx ON api_tokens (prefix);

-- Every gateway instance caches the tokens it has checked; a change (revocation, a new bootstrap
-- token) tells them all to forget that token at once.
CREATE FUNCTION api_tokens_notify() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('api_tokens', NEW.id::text);
    RETURN NULL;
END;
$$;

CREATE TRIGGER api_tokens_notify
    AFTER INSERT OR UPDATE OF token_hash, role, services, environments, expires_at, revoked_at ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_notify();

-- Revocation is final, and a token's identity never changes: only the bootstrap token's digest may be
-- replaced (when CONFIGHUB_ADMIN_TOKEN changes).
CREATE FUNCTION api_tokens_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.revoked_at IS NOT NULL AND NEW.revoked_at IS DISTINCT FROM OLD.revoked_at THEN
        RAISE EXCEPTION 'token "%" is revoked for good', OLD.name USING ERRCODE = 'CH422';
    END IF;
    IF NEW.name <> OLD.name OR NEW.created_at <> OLD.created_at OR NEW.created_by <> OLD.created_by THEN
        RAISE EXCEPTION 'a token''s name and creation are immutable' USING ERRCODE = 'CH422';
    END IF;
    RETURN NEW;
END;
$$;

CREATE TRIGGER api_tokens_guard
    BEFORE UPDATE ON api_tokens
    FOR EACH ROW EXECUTE FUNCTION api_tokens_guard();

CREATE TRIGGER api_tokens_no_delete
    BEFORE DELETE OR TRUNCATE ON api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION confighub_refuse_change();
