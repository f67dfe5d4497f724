-- Approvals for protected environments. A change to a config in a protected environment becomes a
-- change request: the proposed document on its base version, its diff and reason. It applies (as an
-- ordinary audited write by its author) once enough principals other than its author approved it.
-- Reviews (approve, reject, comment) are rows of their own, never changed: they are the request's audit.
CREATE TABLE protected_environments (
    environment varchar(128) PRIMARY KEY,
    required_approvals integer NOT NULL CHECK (required_approvals BETWEEN 1 AND 10),
    protected_by text NOT NULL,
    protected_at timestamptz NOT NULL DEFAULT now(),
    reason text
);

CREATE TABLE change_requests (
    id bigserial PRIMARY KEY,
    service_name varchar(128) NOT NULL,
    environment varchar(128) NOT NULL,
    -- The version the change was proposed on (moved forward when it is rebased at apply).
    base_version integer NOT NULL,
    -- What was asked: an RFC 7396 merge patch, or a whole document (exactly one).
    patch jsonb,
    config jsonb,
    CHECK ((patch IS NULL) <> (config IS NULL)),
    description text,
    -- The document it would write on its base, checked (schema, secret guard) when proposed and again at apply.
    proposed jsonb NOT NULL,
    reason text NOT NULL,
    author text NOT NULL,
    required_approvals integer NOT NULL,
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'applying', 'applied', 'rejected', 'withdrawn', 'stale')),
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    -- Set while a gateway applies it (a claim: exactly one applies; one left by a gateway that died is settled later).
    claimed_at timestamptz,
    closed_at timestamptz,
    -- The version the apply wrote.
    applied_version integer,
    -- Why it closed as it did (rejected by, stale because, rebased from).
    outcome text
);

CREATE INDEX change_requests_config ON change_requests (service_name, environment, id DESC);
CREATE INDEX change_requests_open ON change_requests (id) WHERE state IN ('open', 'applying');

CREATE TABLE change_request_reviews (
    id bigserial PRIMARY KEY,
    request_id bigint NOT NULL REFERENCES change_requests (id),
    reviewer text NOT NULL,
    verdict text NOT NULL CHECK (verdict IN ('approve', 'reject', 'comment')),
    comment text,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One approval per principal and request.
CREATE UNIQUE INDEX change_request_reviews_one_approval ON change_request_reviews (request_id, reviewer) WHERE verdict = 'approve';
CREATE INDEX change_request_reviews_request ON change_request_reviews (request_id, id);

-- Every gateway keeps the protected environments in memory and reloads them on this notice.
CREATE FUNCTION protected_environments_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('protected_environments', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER protected_environments_notify AFTER INSERT OR UPDATE OR DELETE ON protected_environments
    FOR EACH STATEMENT EXECUTE FUNCTION protected_environments_notify();
