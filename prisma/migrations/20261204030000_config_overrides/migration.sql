-- Temporary overrides: a change that carries an expiry. At expiry a gateway writes the revert as a new
-- audited version (actor 'override'), putting back each setting the override changed and that no later
-- change has touched since. One row per override; a gateway claims a due one (state 'reverting') before
-- it reverts it, so with several gateways exactly one acts, and a claim left by a gateway that died is
-- taken over after a minute (the revert is idempotent: what is no longer the override's own is left).
CREATE TABLE config_overrides (
    id bigserial PRIMARY KEY,
    service_name varchar(128) NOT NULL,
    environment varchar(128) NOT NULL,
    -- The version the override wrote.
    version integer NOT NULL,
    -- The settings it changed: [{"path": ["operational", "batch_size"], "before": 100, "after": 500}, ...]
    -- ("before" absent: the setting did not exist; "after" absent: the override removed it).
    changes jsonb NOT NULL CHECK (jsonb_typeof(changes) = 'array'),
    expires_at timestamptz NOT NULL,
    created_by text NOT NULL,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'reverting', 'reverted')),
    claimed_at timestamptz,
    reverted_at timestamptz,
    -- The version the revert wrote (null when there was nothing left to revert).
    reverted_version integer,
    -- What the revert did: which settings it put back, which it left and why.
    outcome text
);

CREATE INDEX config_overrides_due ON config_overrides (expires_at) WHERE state <> 'reverted';
CREATE INDEX config_overrides_config ON config_overrides (service_name, environment, created_at DESC);
