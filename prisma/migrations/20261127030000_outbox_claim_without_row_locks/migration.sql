-- The relay's claim without row locks. Only the holder of the relay lock (an advisory transaction lock)
-- reads or deletes outbox entries, and it takes its snapshot after the previous holder committed, so
-- FOR UPDATE SKIP LOCKED never skipped anything: it only locked each claimed row (a heap write and a WAL
-- record per change) right before the DELETE wrote to the same rows again.
CREATE OR REPLACE FUNCTION confighub_claim_outbox(max_changes integer)
RETURNS SETOF config_audit_log LANGUAGE plpgsql VOLATILE AS $$
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
$$;
