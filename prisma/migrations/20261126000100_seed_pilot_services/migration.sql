-- The three pilot services of the market-data platform, with realistic operational settings,
-- feature flags and business thresholds. Recorded in the audit log as created by 'seed'.
SELECT set_config('confighub.actor', 'seed', true);
SELECT set_config('confighub.reason', 'pilot services seeded by migration', true);

INSERT INTO service_configs (service_name, environment, description, config, updated_by) VALUES
('polygon-historical-downloader', 'production',
 'Backfills historical aggregates from Polygon.io and repairs gaps in stored bars',
 '{
    "operational": {
      "gap_check_interval_hours": 6,
      "batch_size": 5000,
      "max_concurrent_requests": 8,
      "request_timeout_seconds": 30,
      "retry_attempts": 5,
      "retry_backoff_seconds": 2,
      "lookback_days": 730
    },
    "features": {
      "enable_gap_filling": true,
      "enable_splits_adjustment": true,
      "enable_options_data": false
    },
    "business": {
      "symbols_universe": "sp500",
      "timeframes": ["1m", "5m", "1h", "1d"],
      "max_daily_api_calls": 50000,
      "min_volume_threshold": 10000
    }
  }'::jsonb, 'seed'),
('polygon-live-collector', 'production',
 'Streams live trades and quotes from the Polygon.io websocket into the raw tick store',
 '{
    "operational": {
      "reconnect_interval_seconds": 5,
      "max_reconnect_attempts": 0,
      "heartbeat_interval_seconds": 30,
      "buffer_flush_interval_ms": 250,
      "buffer_max_messages": 10000,
      "write_batch_size": 2000
    },
    "features": {
      "enable_quotes": true,
      "enable_trades": true,
      "enable_crypto": false,
      "enable_dead_letter_queue": true
    },
    "business": {
      "subscribed_symbols": ["SPY", "QQQ", "AAPL", "MSFT", "NVDA"],
      "market_hours_only": true,
      "max_staleness_seconds": 10
    }
  }'::jsonb, 'seed'),
('tick-aggregator', 'production',
 'Rolls raw ticks into OHLCV bars and publishes them to downstream processors',
 '{
    "operational": {
      "aggregation_window_ms": 1000,
      "late_tick_tolerance_ms": 500,
      "worker_threads": 4,
      "checkpoint_interval_seconds": 60,
      "max_queue_depth": 100000
    },
    "features": {
      "enable_vwap": true,
      "enable_outlier_filter": true,
      "publish_partial_bars": false
    },
    "business": {
      "bar_intervals": ["1s", "1m", "5m"],
      "outlier_stddev_threshold": 6.0,
      "min_trade_size": 1
    }
  }'::jsonb, 'seed');
