-- The name checks say the same thing more cheaply. PostgreSQL's regex engine unrolls a bounded
-- repetition such as {0,127} into as many states, and every evaluation built its matcher state by state:
-- about 20 times the cost of the same pattern with *. The checks run on every UPDATE of a row, whichever
-- columns change, so each config write and heartbeat paid for two of them. The length limit stays where
-- it also was: the VARCHAR(128) columns; api_tokens.name is TEXT, so its check bounds the length itself
-- (the pattern admits ASCII only, so characters are bytes).
ALTER TABLE service_configs
    DROP CONSTRAINT service_configs_service_name_check,
    DROP CONSTRAINT service_configs_environment_check,
    ADD CONSTRAINT service_configs_service_name_check CHECK (service_name ~ '^[a-z0-9][a-z0-9._-]*$'),
    ADD CONSTRAINT service_configs_environment_check CHECK (environment ~ '^[a-z0-9][a-z0-9._-]*$');

ALTER TABLE config_schemas
    DROP CONSTRAINT config_schemas_service_name_check,
    ADD CONSTRAINT config_schemas_service_name_check CHECK (service_name ~ '^[a-z0-9][a-z0-9._-]*$');

ALTER TABLE config_instances
    DROP CONSTRAINT config_instances_service_name_check,
    DROP CONSTRAINT config_instances_environment_check,
    ADD CONSTRAINT config_instances_service_name_check CHECK (service_name ~ '^[a-z0-9][a-z0-9._-]*$'),
    ADD CONSTRAINT config_instances_environment_check CHECK (environment ~ '^[a-z0-9][a-z0-9._-]*$');

ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_name_check,
    ADD CONSTRAINT api_tokens_name_check CHECK (name ~ '^[a-z0-9][a-z0-9._@-]*$' AND char_length(name) <= 128);
