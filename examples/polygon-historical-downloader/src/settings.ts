import { z } from 'zod';

/**
 * The downloader's settings as the hub holds them (service `polygon-historical-downloader`). Every key
 * has a safe default here: the service runs on these until the hub (or its snapshot) says otherwise.
 * Secrets are not settings: the database URL comes from the environment, never from the hub.
 */
export const downloaderSettings = z.looseObject({
  operational: z.looseObject({
    /** Hours between two scans for missing bars. */
    gap_check_interval_hours: z.number().positive().max(168),
    /** Bars filled per scan at most. */
    batch_size: z.number().int().min(1).max(50_000),
    max_concurrent_requests: z.number().int().min(1).max(64),
    request_timeout_seconds: z.number().positive(),
    retry_attempts: z.number().int().min(0),
    retry_backoff_seconds: z.number().min(0),
    /** How far back a scan looks, in days. */
    lookback_days: z.number().int().min(1).max(3_650),
  }),
  features: z.looseObject({
    enable_gap_filling: z.boolean(),
    enable_splits_adjustment: z.boolean(),
    enable_options_data: z.boolean(),
  }),
  business: z.looseObject({
    symbols_universe: z.string(),
    timeframes: z.array(z.string()),
    max_daily_api_calls: z.number().int().min(0),
    min_volume_threshold: z.number().min(0),
  }),
});

export type DownloaderSettings = z.infer<typeof downloaderSettings>;

/** What the service runs with when it has never heard from the hub. */
export const defaultSettings: DownloaderSettings = {
  operational: {
    gap_check_interval_hours: 6,
    batch_size: 5_000,
    max_concurrent_requests: 8,
    request_timeout_seconds: 30,
    retry_attempts: 5,
    retry_backoff_seconds: 2,
    lookback_days: 730,
  },
  features: { enable_gap_filling: true, enable_splits_adjustment: true, enable_options_data: false },
  business: { symbols_universe: 'sp500', timeframes: ['1m', '5m', '1h', '1d'], max_daily_api_calls: 50_000, min_volume_threshold: 10_000 },
};

/** The symbols of each universe (a small stand-in for the real lists). */
export const UNIVERSES: Record<string, string[]> = {
  sp500: ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL'],
  etfs: ['SPY', 'QQQ', 'IWM', 'DIA'],
};
