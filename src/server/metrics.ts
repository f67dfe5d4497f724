import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { ConfigFeed } from '../events/feed.ts';
import type { EventBus } from '../events/bus.ts';
import type { OutboxRelay } from '../events/relay.ts';
import type { WriteBatcher } from '../store/writeBatch.ts';

export interface MetricSources {
  relay: OutboxRelay;
  feed: ConfigFeed;
  bus: EventBus;
  /** Group commit of config writes (its statements and rows). */
  batcher: WriteBatcher;
  /** Open graphql-ws sockets. */
  webSocketCount: () => number;
  /** GraphQL answers served as kept (server/graphql/answers.ts). */
  keptAnswerCount: () => number;
}

/** The gateway's Prometheus metrics (GET /metrics), one registry per app. */
export function createMetrics(sources: MetricSources) {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'confighub_process_' });

  const requests = new Counter({
    name: 'confighub_http_requests_total',
    help: 'HTTP requests answered, by route and status code.',
    labelNames: ['route', 'method', 'status'] as const,
    registers: [registry],
  });
  const graphqlErrors = new Counter({
    name: 'confighub_graphql_errors_total',
    help: 'GraphQL responses that carried errors (typed results are not errors).',
    registers: [registry],
  });
  const gaugeOf = (name: string, help: string, read: () => number) =>
    new Gauge({ name, help, registers: [registry], collect() { this.set(read()); } });
  const counterOf = (name: string, help: string, read: () => number) =>
    new Counter({ name, help, registers: [registry], collect() { this.reset(); this.inc(read()); } });
  gaugeOf('confighub_subscriptions_open', 'GraphQL subscriptions open on this instance.', () => sources.feed.openSubscriptions);
  gaugeOf('confighub_websockets_open', 'graphql-ws sockets open on this instance.', () => sources.webSocketCount());
  counterOf(
    'confighub_graphql_kept_answers_total',
    'GraphQL reads answered from a kept answer (the same request, caller and config rows as an earlier one) instead of executed.',
    () => sources.keptAnswerCount(),
  );
  counterOf('confighub_events_published_total', 'Changes this instance published from the outbox.', () => sources.relay.publishedCount);
  counterOf(
    'confighub_events_delivered_total',
    'Changes this instance received and fanned out to its subscribers.',
    () => sources.feed.deliveredCount,
  );
  counterOf(
    'confighub_write_statements_total',
    'Statements that carried config writes and committed (group commit: several writes may share one; a write whose version moved meanwhile is in none of the rows).',
    () => sources.batcher.stats.statements,
  );
  counterOf(
    'confighub_write_rows_total',
    'Config writes committed through those statements (rows per statement = writes / statements).',
    () => sources.batcher.stats.rows,
  );
  // Read from the database by render(), before the registry collects.
  let outbox = { count: Number.NaN, oldestAgeSeconds: Number.NaN };
  gaugeOf('confighub_outbox_backlog', 'Committed changes not yet published.', () => outbox.count);
  gaugeOf('confighub_outbox_oldest_age_seconds', 'Age of the oldest unpublished change (0 when none waits).', () => outbox.oldestAgeSeconds);
  new Gauge({
    name: 'confighub_events_connected',
    help: '1 while events can travel (NATS connected, or in-process), else 0.',
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      this.reset();
      this.set({ kind: sources.bus.kind }, sources.bus.isConnected() ? 1 : 0);
    },
  });

  return {
    requests,
    graphqlErrors,
    /** The exposition text (GET /metrics); reads the outbox backlog from the database first. */
    async render(): Promise<Response> {
      outbox = await sources.relay.backlog().catch(() => ({ count: Number.NaN, oldestAgeSeconds: Number.NaN }));
      return new Response(await registry.metrics(), { headers: { 'content-type': registry.contentType } });
    },
  };
}
