// The downloader's settings are generated from the hub's schema of the service (settings.generated.ts,
// written by `confighub types polygon-historical-downloader --out src/settings.generated.ts`; a test
// checks it against the hub). Secrets are not settings: the database URL comes from the environment.

/** The symbols of each universe (a small stand-in for the real lists). */
export const UNIVERSES: Record<string, string[]> = {
  sp500: ['AAPL', 'MSFT', 'NVDA', 'AMZN', 'GOOGL'],
  etfs: ['SPY', 'QQQ', 'IWM', 'DIA'],
};
