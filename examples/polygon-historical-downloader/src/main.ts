// In this checkout `@confighub/client` resolves to the client's source (tsconfig paths, honoured by tsx);
// elsewhere it is the installed package (packages/client).
import { ConfigClient } from '@confighub/client';
import { jsonSchemaSettings } from '@confighub/client/json-schema';
import { type BarStore, openBarStore } from './barStore.ts';
import { log } from './log.ts';
import { IntervalSchedule } from './schedule.ts';
import { UNIVERSES } from './settings.ts';
// The settings' type, schema and defaults, generated from the hub's schema (`confighub types`): the
// service cannot disagree with the hub about what a valid config is.
import { type Settings as DownloaderSettings, defaults as defaultSettings, schema } from './settings.generated.ts';

/**
 * polygon-historical-downloader, the pilot of confighub: scans its own database for missing daily bars
 * every `operational.gap_check_interval_hours` and fills up to `operational.batch_size` of them. Its
 * operational settings come from the hub and change while it runs; its database credentials come from
 * its own environment.
 */

const SERVICE = 'polygon-historical-downloader';

/** The service's environment: where the hub is, its token, its own database. */
const env = {
  hubUrl: process.env.CONFIGHUB_URL ?? 'http://127.0.0.1:4000',
  token: process.env.CONFIGHUB_TOKEN || undefined,
  environment: process.env.CONFIGHUB_ENVIRONMENT ?? 'production',
  /** Changes arrive through NATS when set, through a graphql-ws subscription to the hub otherwise. */
  natsUrl: process.env.NATS_URL || undefined,
  /** The service's own database (a secret: never in the hub). Unset: an in-memory demo database. */
  databaseUrl: process.env.DOWNLOADER_DATABASE_URL || undefined,
  /** How long an "hour" of the settings lasts: 1000 makes a demo's 6-hour interval 6 seconds. */
  hourMs: Number(process.env.DOWNLOADER_HOUR_MS ?? 3_600_000),
  snapshotFile: process.env.DOWNLOADER_SNAPSHOT_FILE || undefined,
  /** How long a start without a snapshot waits for the hub before it runs on defaults. */
  hubWaitMs: 3_000,
};

async function main() {
  if (!Number.isFinite(env.hourMs) || env.hourMs <= 0) throw new Error('DOWNLOADER_HOUR_MS must be a positive number of milliseconds');
  const config = new ConfigClient<DownloaderSettings>({
    service: SERVICE,
    environment: env.environment,
    hub: { url: env.hubUrl, token: env.token },
    defaults: defaultSettings,
    schema: jsonSchemaSettings<DownloaderSettings>(schema),
    snapshotFile: env.snapshotFile,
    live: env.natsUrl ? { via: 'nats', servers: env.natsUrl } : { via: 'graphql-ws' },
    // A service should find a hub that comes back within seconds, not after half a minute.
    backoff: { initialMs: 250, maxMs: 5_000 },
  });
  const initial = config.status;
  log('starting', { service: SERVICE, environment: env.environment, hub: env.hubUrl, live: env.natsUrl ? 'nats' : 'graphql-ws', source: initial.source, version: initial.version, state: initial.state });

  // The hub is asked at once; the database opens meanwhile (the first run waits for both).
  let bars: BarStore | undefined;
  const schedule = new IntervalSchedule(
    () => checkGaps(config, bars!),
    () => config.get('operational.gap_check_interval_hours') * env.hourMs,
    (error) => log('gap check failed', { error: (error as Error).message }, 'error'),
  );

  config.onChange((next, previous, changedPaths) => {
    const settings = changedPaths.filter((path) => !isSection(valueAt(next, path)) && !isSection(valueAt(previous, path)));
    const changes = Object.fromEntries(settings.map((path) => [path, { from: valueAt(previous, path), to: valueAt(next, path) }]));
    log('config applied', { version: config.status.version, source: config.status.source, changes });
  });
  config.watch('operational.gap_check_interval_hours', (hours, previousHours) => {
    // Hot reload: the new interval applies to the schedule at once, no restart.
    schedule.reschedule();
    log('gap check interval changed', { fromHours: previousHours, toHours: hours, nextCheckAt: schedule.nextRunAt?.toISOString() ?? null });
  });
  config.onStatus((status) => log('hub status', { state: status.state, reason: status.reason, version: status.version, source: status.source }, status.state === 'READY' ? 'info' : 'warn'));
  config.onReject((rejection) => log('config refused; keeping the current one', { version: rejection.version, reason: rejection.reason, issues: rejection.issues }, 'warn'));

  config.start();
  bars = await openBarStore(env.databaseUrl);
  if (config.status.source === 'defaults') {
    // No snapshot to start from: give the hub a moment, so that the first run does not use defaults
    // the hub is about to overrule. With a snapshot, or when the hub is away, start at once regardless.
    await config.ready(env.hubWaitMs).catch(() => log('starting without the hub', { state: config.status.state, reason: config.status.reason }, 'warn'));
  }
  schedule.start();

  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log('stopping', { signal });
      void (async () => {
        await schedule.stop();
        await config.close();
        await bars?.close();
        process.exit(0);
      })();
    });
  }
}

/** One scan: find the missing bars, fill at most batch_size of them, record what was done. */
async function checkGaps(config: ConfigClient<DownloaderSettings>, bars: BarStore): Promise<void> {
  // Read the settings at the start of each run: whatever the hub says now is what this run uses.
  const settings = config.get();
  const { version } = config.status;
  const symbols = UNIVERSES[settings.business.symbols_universe] ?? UNIVERSES.sp500!;
  const gaps = await bars.findGaps(symbols, settings.operational.lookback_days);
  const batch = settings.features.enable_gap_filling ? gaps.slice(0, settings.operational.batch_size) : [];
  const filled = await bars.fillBars(batch);
  await bars.recordCheck({
    configVersion: version,
    intervalHours: settings.operational.gap_check_interval_hours,
    batchSize: settings.operational.batch_size,
    gapsFound: gaps.length,
    barsFilled: filled,
  });
  log('gap check', {
    configVersion: version,
    intervalHours: settings.operational.gap_check_interval_hours,
    batchSize: settings.operational.batch_size,
    gapsFound: gaps.length,
    barsFilled: filled,
  });
}

function isSection(value: unknown): boolean {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function valueAt(document: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((node, key) => (node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined), document);
}

main().catch((error: unknown) => {
  log('failed to start', { error: (error as Error)?.stack ?? String(error) }, 'error');
  process.exit(1);
});
