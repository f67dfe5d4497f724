-- A JSON Schema (draft 2020-12) per service, versioned: every write of the service's configs is
-- validated against its newest schema. Rows are never changed; a new schema is a new version.

CREATE TABLE "config_schemas" (
    "id" SERIAL NOT NULL,
    "service_name" VARCHAR(128) NOT NULL,
    "version" INTEGER NOT NULL,
    "schema" JSONB NOT NULL,
    "created_by" TEXT NOT NULL,
    "reason" TEXT,
    "created_at" TIMESTAMPTZ(6) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "config_schemas_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "config_schemas_service_name_check" CHECK ("service_name" ~ '^[a-z0-9][a-z0-9._-]{0,127}$'),
    CONSTRAINT "config_schemas_schema_object_check" CHECK (jsonb_typeof("schema") = 'object')
);

CREATE UNIQUE INDEX "config_schemas_service_name_version_key" ON "config_schemas"("service_name", "version");

-- Instances drop their compiled copy when a schema changes.
CREATE FUNCTION config_schemas_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('config_schemas', NEW.service_name);
    RETURN NULL;
END
$$;

CREATE TRIGGER config_schemas_notify
    AFTER INSERT ON config_schemas
    FOR EACH ROW EXECUTE FUNCTION config_schemas_notify();

CREATE FUNCTION config_schemas_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'confighub: config_schemas is append-only (% refused); add a new version', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER config_schemas_append_only
    BEFORE UPDATE OR DELETE ON config_schemas
    FOR EACH ROW EXECUTE FUNCTION config_schemas_append_only();

-- Schemas of the three pilot services. Sections and the settings services rely on are described and
-- bounded; unknown keys stay allowed so a service can add a setting before its schema does.
INSERT INTO config_schemas (service_name, version, created_by, reason, schema) VALUES
('polygon-historical-downloader', 1, 'seed', 'pilot schema', '{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "polygon-historical-downloader",
  "description": "Backfills historical aggregates from Polygon.io and repairs gaps in stored bars.",
  "type": "object",
  "required": ["operational"],
  "properties": {
    "operational": {
      "type": "object",
      "description": "How the downloader runs.",
      "properties": {
        "gap_check_interval_hours": {"type": "number", "exclusiveMinimum": 0, "maximum": 168, "default": 6, "description": "Hours between scans for gaps in stored bars."},
        "batch_size": {"type": "integer", "minimum": 1, "maximum": 50000, "default": 5000, "description": "Bars requested per API call."},
        "max_concurrent_requests": {"type": "integer", "minimum": 1, "maximum": 64, "default": 8, "description": "Requests to Polygon.io in flight at once."},
        "request_timeout_seconds": {"type": "number", "exclusiveMinimum": 0, "maximum": 300, "default": 30, "description": "Timeout of one API request."},
        "retry_attempts": {"type": "integer", "minimum": 0, "maximum": 20, "default": 5, "description": "Retries of a failed request before the batch is given up."},
        "retry_backoff_seconds": {"type": "number", "minimum": 0, "maximum": 600, "default": 2, "description": "First retry delay; doubles each attempt."},
        "lookback_days": {"type": "integer", "minimum": 1, "maximum": 7300, "default": 730, "description": "How far back gaps are repaired."}
      }
    },
    "features": {
      "type": "object",
      "description": "Feature flags.",
      "additionalProperties": {"type": "boolean"},
      "properties": {
        "enable_gap_filling": {"type": "boolean", "default": true, "description": "Repair gaps found by the scan."},
        "enable_splits_adjustment": {"type": "boolean", "default": true, "description": "Adjust bars for stock splits."},
        "enable_options_data": {"type": "boolean", "default": false, "description": "Also download options aggregates."}
      }
    },
    "business": {
      "type": "object",
      "description": "What to download.",
      "properties": {
        "symbols_universe": {"type": "string", "enum": ["sp500", "nasdaq100", "russell2000", "all"], "default": "sp500", "description": "Which symbols are kept complete."},
        "timeframes": {"type": "array", "items": {"type": "string", "enum": ["1m", "5m", "15m", "1h", "1d"]}, "minItems": 1, "uniqueItems": true, "description": "Bar sizes to download."},
        "max_daily_api_calls": {"type": "integer", "minimum": 0, "description": "API calls allowed per day (plan quota)."},
        "min_volume_threshold": {"type": "integer", "minimum": 0, "description": "Symbols trading less per day are skipped."}
      }
    }
  }
}'::jsonb),
('polygon-live-collector', 1, 'seed', 'pilot schema', '{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "polygon-live-collector",
  "description": "Streams live trades and quotes from the Polygon.io websocket into the raw tick store.",
  "type": "object",
  "properties": {
    "operational": {
      "type": "object",
      "description": "Connection and buffering.",
      "properties": {
        "reconnect_interval_seconds": {"type": "number", "minimum": 0.1, "maximum": 300, "default": 5, "description": "Wait before reconnecting the websocket."},
        "max_reconnect_attempts": {"type": "integer", "minimum": 0, "default": 0, "description": "0 means reconnect forever."},
        "heartbeat_interval_seconds": {"type": "number", "minimum": 1, "maximum": 300, "default": 30, "description": "Heartbeat to the upstream websocket."},
        "buffer_flush_interval_ms": {"type": "integer", "minimum": 10, "maximum": 60000, "default": 250, "description": "Longest time a tick waits in the buffer."},
        "buffer_max_messages": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 10000, "description": "Buffer size that forces a flush."},
        "write_batch_size": {"type": "integer", "minimum": 1, "maximum": 100000, "default": 2000, "description": "Rows per insert into the tick store."}
      }
    },
    "features": {
      "type": "object",
      "description": "Feature flags.",
      "additionalProperties": {"type": "boolean"},
      "properties": {
        "enable_quotes": {"type": "boolean", "default": true, "description": "Collect quotes."},
        "enable_trades": {"type": "boolean", "default": true, "description": "Collect trades."},
        "enable_crypto": {"type": "boolean", "default": false, "description": "Also collect crypto pairs."},
        "enable_dead_letter_queue": {"type": "boolean", "default": true, "description": "Keep unparseable messages for inspection."}
      }
    },
    "business": {
      "type": "object",
      "description": "What to collect.",
      "properties": {
        "subscribed_symbols": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z0-9.:-]{1,16}$"}, "uniqueItems": true, "description": "Symbols subscribed on the websocket."},
        "market_hours_only": {"type": "boolean", "default": true, "description": "Disconnect outside market hours."},
        "max_staleness_seconds": {"type": "number", "minimum": 1, "default": 10, "description": "Alert when no tick arrived for this long."}
      }
    }
  }
}'::jsonb),
('tick-aggregator', 1, 'seed', 'pilot schema', '{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "title": "tick-aggregator",
  "description": "Rolls raw ticks into OHLCV bars and publishes them to downstream processors.",
  "type": "object",
  "properties": {
    "operational": {
      "type": "object",
      "description": "Windows, workers and checkpoints.",
      "properties": {
        "aggregation_window_ms": {"type": "integer", "minimum": 100, "maximum": 3600000, "default": 1000, "description": "Length of the smallest bar."},
        "late_tick_tolerance_ms": {"type": "integer", "minimum": 0, "maximum": 60000, "default": 500, "description": "How long a closed bar still takes late ticks."},
        "worker_threads": {"type": "integer", "minimum": 1, "maximum": 64, "default": 4, "description": "Aggregation workers."},
        "checkpoint_interval_seconds": {"type": "integer", "minimum": 1, "maximum": 3600, "default": 60, "description": "Seconds between state checkpoints."},
        "max_queue_depth": {"type": "integer", "minimum": 1, "default": 100000, "description": "Ticks queued before back-pressure."}
      }
    },
    "features": {
      "type": "object",
      "description": "Feature flags.",
      "additionalProperties": {"type": "boolean"},
      "properties": {
        "enable_vwap": {"type": "boolean", "default": true, "description": "Compute VWAP per bar."},
        "enable_outlier_filter": {"type": "boolean", "default": true, "description": "Drop ticks far from the rolling mean."},
        "publish_partial_bars": {"type": "boolean", "default": false, "description": "Publish bars before they close."}
      }
    },
    "business": {
      "type": "object",
      "description": "Bars and filters.",
      "properties": {
        "bar_intervals": {"type": "array", "items": {"type": "string", "pattern": "^[0-9]+[smhd]$"}, "minItems": 1, "uniqueItems": true, "description": "Bar sizes produced."},
        "outlier_stddev_threshold": {"type": "number", "exclusiveMinimum": 0, "maximum": 100, "default": 6, "description": "Standard deviations beyond which a tick is an outlier."},
        "min_trade_size": {"type": "integer", "minimum": 0, "default": 1, "description": "Smaller trades are ignored."}
      }
    }
  }
}'::jsonb);
