-- Progressive rollouts. An update may carry a rollout: the new version (the candidate) is written as any
-- other change, and beside it the hub keeps which version was stable before it and the steps it goes
-- through (percentages of the service's instances, each held for a bake time). While a rollout is active,
-- only the instances in its current step are served the candidate; the others keep the stable version.
-- A gateway advances a step when its bake time passed with no refusal and no error past the threshold,
-- and rolls back (an audited ROLLBACK by actor `rollout`) otherwise. Steps, ends and claims are
-- compare-and-set updates of these rows: with several gateways exactly one acts on each step.
CREATE TABLE config_rollouts (
    id bigserial PRIMARY KEY,
    service_name varchar(128) NOT NULL,
    environment varchar(128) NOT NULL,
    -- The version instances outside the current step are served, and its document.
    stable_version integer NOT NULL,
    stable_config jsonb NOT NULL,
    stable_updated_at timestamptz NOT NULL,
    stable_updated_by text NOT NULL,
    -- The version being rolled out (stable_version + 1: written right after this row).
    candidate_version integer NOT NULL CHECK (candidate_version = stable_version + 1),
    -- Percentages of the instances, rising, the last at most 100.
    steps integer[] NOT NULL CHECK (cardinality(steps) BETWEEN 1 AND 10),
    bake_ms integer NOT NULL CHECK (bake_ms > 0),
    -- How many instances of the candidate may report an error before it is rolled back (a refusal always rolls back).
    max_errors integer NOT NULL DEFAULT 0 CHECK (max_errors >= 0),
    step_index integer NOT NULL DEFAULT 0,
    step_started_at timestamptz NOT NULL DEFAULT now(),
    state text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'rolling_back', 'completed', 'rolled_back', 'aborted', 'superseded')),
    created_by text NOT NULL,
    reason text,
    created_at timestamptz NOT NULL DEFAULT now(),
    -- Set when a gateway starts rolling back (a claim: one left by a gateway that died is taken over later).
    claimed_at timestamptz,
    ended_at timestamptz,
    ended_by text,
    -- The version the rollback wrote.
    rollback_version integer,
    -- Why it ended as it did.
    outcome text
);

-- At most one rollout of a config is under way.
CREATE UNIQUE INDEX config_rollouts_one_active ON config_rollouts (service_name, environment) WHERE state IN ('active', 'rolling_back');
CREATE INDEX config_rollouts_config ON config_rollouts (service_name, environment, id DESC);

-- What happened to a rollout, in order: started, advanced, promoted, completed, rolled back, aborted,
-- superseded. Rows are never changed.
CREATE TABLE config_rollout_events (
    id bigserial PRIMARY KEY,
    rollout_id bigint NOT NULL REFERENCES config_rollouts (id),
    at timestamptz NOT NULL DEFAULT now(),
    actor text NOT NULL,
    kind text NOT NULL CHECK (kind IN ('started', 'advanced', 'promoted', 'completed', 'rolled_back', 'aborted', 'superseded')),
    -- The share of instances served the candidate after the event.
    percent integer NOT NULL,
    detail text
);
CREATE INDEX config_rollout_events_rollout ON config_rollout_events (rollout_id, id);

-- Every gateway keeps the rollouts under way in memory and reloads them on this notice.
CREATE FUNCTION config_rollouts_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('config_rollouts', '');
    RETURN NULL;
END
$$;
CREATE TRIGGER config_rollouts_notify AFTER INSERT OR UPDATE OR DELETE ON config_rollouts
    FOR EACH STATEMENT EXECUTE FUNCTION config_rollouts_notify();
