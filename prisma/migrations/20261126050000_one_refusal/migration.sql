-- One refusal for every append-only table: config_schemas uses confighub_refuse_change() like the
-- audit log, instead of a copy of its own.
DROP TRIGGER config_schemas_append_only ON config_schemas;
DROP FUNCTION config_schemas_append_only();

CREATE TRIGGER config_schemas_append_only
    BEFORE UPDATE OR DELETE ON config_schemas
    FOR EACH ROW EXECUTE FUNCTION confighub_refuse_change();
