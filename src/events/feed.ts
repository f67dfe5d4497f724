import type { Logger } from '../logger.ts';
import { type HeavyWork, nextTurn } from '../turns.ts';
import type { ConfigStore } from '../store/configStore.ts';
import { isLargeDiff } from '../store/documentChecks.ts';
import { type ConfigKey, keyString, parseKeyString } from '../store/names.ts';
import { instanceName } from '../store/instances.ts';
import type { ConfigRollouts, Rollout } from '../store/rollouts.ts';
import { type ConfigEvent, parseConfigEvent } from '../protocol/changes.ts';
import { configEventFrom } from './configEvent.ts';
import type { EventBus } from './bus.ts';
import { ChangeQueue, type ChangeStream, changeStream } from './changeStream.ts';

/**
 * How long a change the database announced may wait for the bus before the feed reads it from the audit
 * log itself (the relay is slow or stuck, NATS is cut off without the client knowing yet). While the bus
 * says it is disconnected, the feed does not wait.
 */
const BUS_GRACE_MS = 1_000;

/**
 * This instance's view of committed changes: it listens to the event bus, drops duplicates, fills gaps from
 * the audit log, and fans each change out to this instance's subscribers.
 */
export class ConfigFeed {
  /** Subscribers to one config, by key string. */
  private readonly followers = new Map<string, Set<ChangeQueue>>();
  /** Subscribers to many configs (each takes what its `accept` says). */
  private readonly everything = new Set<ChangeQueue>();
  /** The last version delivered here, per config. */
  private readonly delivered = new Map<string, number>();
  private queue: Promise<void> = Promise.resolve();
  /** What stops following the bus and the database's notices. */
  private readonly stops: (() => void)[] = [];
  /** Changes the database announced that the bus has not brought yet: the newest version per config, and since when. */
  private readonly awaited = new Map<string, { version: number; since: number }>();
  private graceTimer: NodeJS.Timeout | undefined;
  /** Changes this instance took in and fanned out to its subscriptions (its read cache follows the database's notices: ConfigStore.start). */
  deliveredCount = 0;
  /** GraphQL subscriptions open on this instance. */
  openSubscriptions = 0;

  constructor(
    private readonly bus: EventBus,
    private readonly store: ConfigStore,
    private readonly logger: Logger,
    /** Where a large replayed change takes its turn with the process's other heavy work. */
    private readonly heavy: HeavyWork,
  ) {}

  start(): void {
    this.stops.push(this.bus.onResumed(() => this.catchUp()));
    // NATS is not this instance's lifeline: the database announces every commit to every instance, so a
    // change the bus does not bring (NATS away) is read from the audit log and delivered all the same.
    this.stops.push(this.store.onCommitted((notice) => this.noticed(notice, notice.version)));
    this.stops.push(this.bus.listen((raw) => {
      const event = parseConfigEvent(raw);
      if (!event) {
        this.logger.warn({ event: raw }, 'malformed change event dropped');
        return;
      }
      this.enqueue(() => this.accept(event), { service: event.service }, 'change event could not be delivered');
    }));
  }

  /** Runs `work` after what is queued, one at a time, so gap fills and deliveries keep version order; a failure is logged. */
  private enqueue(work: () => Promise<void>, context: object, failure: string): void {
    this.queue = this.queue.then(work).catch((error: unknown) => this.logger.error({ err: error, ...context }, failure));
  }

  async stop(): Promise<void> {
    for (const stop of this.stops.splice(0)) stop();
    clearTimeout(this.graceTimer);
    await this.queue;
  }

  /** A change the database announced: read it now if the bus cannot bring it, else give the bus a moment. */
  private noticed(key: ConfigKey, version: number): void {
    const k = keyString(key);
    if ((this.delivered.get(k) ?? 0) >= version) return;
    if (!this.bus.isConnected()) {
      this.readChange(key, version);
      return;
    }
    const waiting = this.awaited.get(k);
    this.awaited.set(k, { version: Math.max(version, waiting?.version ?? 0), since: waiting?.since ?? Date.now() });
    this.graceTimer ??= setTimeout(() => this.readOverdue(), BUS_GRACE_MS).unref();
  }

  /** Reads from the audit log the announced changes the bus has not brought within the grace time. */
  private readOverdue(): void {
    this.graceTimer = undefined;
    const now = Date.now();
    for (const [k, { version, since }] of this.awaited) {
      if ((this.delivered.get(k) ?? 0) >= version) this.awaited.delete(k);
      else if (now - since >= BUS_GRACE_MS) {
        this.awaited.delete(k);
        this.readChange(parseKeyString(k), version);
      }
    }
    if (this.awaited.size > 0) this.graceTimer = setTimeout(() => this.readOverdue(), BUS_GRACE_MS).unref();
  }

  /** Takes a change from the audit log as if the bus had brought it (what lies before it is filled in, what is known dropped). */
  private readChange(key: ConfigKey, version: number): void {
    const read = async () => {
      if ((this.delivered.get(keyString(key)) ?? 0) >= version) return;
      const [row] = await this.store.history.changesAfter(key, version - 1, version + 1);
      if (!row) return;
      const { change, patch } = await this.store.history.parseChange(row);
      await this.accept(configEventFrom(change, patch));
    };
    this.enqueue(read, { config: key, version }, 'announced change could not be read');
  }

  private async accept(event: ConfigEvent): Promise<void> {
    const key = keyString(event);
    const last = this.delivered.get(key);
    if (last !== undefined && event.version <= last) return;
    if (last !== undefined && event.version > last + 1) {
      // A change did not reach us (NATS dropped it while we reconnected): read it from the audit log.
      for await (const missed of this.changesBetween(event, last, event.version)) this.deliver(missed);
    }
    this.deliver(event);
  }

  /**
   * Changes other instances published while this one's NATS link was down never arrive, and a gap is
   * only noticed at the config's next change: read the latest change of each config followed here from
   * the audit log and take it like an event (what lies between is filled in, what is known dropped).
   */
  private catchUp(): void {
    for (const key of new Set([...this.delivered.keys(), ...this.followers.keys()])) {
      const read = async () => {
        const [latest] = await this.store.history.listChanges(parseKeyString(key), { take: 1 });
        if (latest) await this.accept(configEventFrom(latest));
      };
      this.enqueue(read, { config: parseKeyString(key) }, 'missed changes could not be read');
    }
  }

  private deliver(event: ConfigEvent): void {
    const key = keyString(event);
    this.delivered.set(key, event.version);
    this.deliveredCount++;
    for (const queue of this.followers.get(key) ?? []) queue.push(event);
    for (const queue of this.everything) queue.push(event);
  }

  /** The changes after `afterVersion` (and before `beforeVersion`) from the audit log, oldest first, read a bounded part at a time. */
  private async *changesBetween(key: ConfigKey, afterVersion: number, beforeVersion?: number): AsyncGenerator<ConfigEvent> {
    let cursor = afterVersion;
    for (;;) {
      const changes = await this.store.history.changesAfter(key, cursor, beforeVersion);
      if (changes.length === 0) return;
      for (const row of changes) {
        // Each replayed change may carry large documents: their patch is worked out off the event loop
        // (the worker thread), and each change is sent in a turn of the event loop of its own. A large one
        // is heavy work from its parse until the subscriber asks for the next change (it has been sent):
        // however many replay at once, one large document is being worked on at a time.
        const end = isLargeDiff(row.oldText, row.newText) ? await this.heavy.start() : undefined;
        try {
          const { change, patch } = await this.store.history.parseChange(row);
          await nextTurn();
          yield configEventFrom(change, patch);
        } finally {
          end?.();
        }
      }
      cursor = changes.at(-1)!.version;
    }
  }

  /**
   * The changes of one config: with `afterVersion`, every later version from the audit log first, then
   * live ones, each exactly once, in order, with no gap at the seam. Listens from the moment it is called.
   */
  subscribe(key: ConfigKey, afterVersion?: number | null, instance?: string | null): ChangeStream {
    const name = instanceName(instance);
    // Listen before reading the log: whatever commits after the read is then already waiting.
    const k = keyString(key);
    const queue = this.follow(new ChangeQueue(), this.followers.get(k) ?? this.followers.set(k, new Set()).get(k)!);
    queue.whenEnded(() => {
      if (this.followers.get(k)?.size === 0) this.followers.delete(k);
    });
    return changeStream(this.forInstance(key, name, this.resume(key, afterVersion ?? undefined, queue)), queue);
  }

  /**
   * `events` as one instance is to see them: a rollout's candidate that does not serve the instance yet is
   * held until it does (its step comes, or the rollout completes); one rolled back (or aborted) is
   * dropped, as is a held one a later version (the rollback) follows.
   */
  private async *forInstance(key: ConfigKey, instance: string | null, events: AsyncGenerator<ConfigEvent>): AsyncGenerator<ConfigEvent> {
    const rollouts = this.store.rollouts;
    const k = keyString(key);
    let held: ConfigEvent | undefined;
    let wake: (() => void) | undefined;
    const stopWatching = rollouts.onChange((changed) => {
      if (keyString(changed) === k) wake?.();
    });
    try {
      let pending: Promise<IteratorResult<ConfigEvent>> | undefined;
      for (;;) {
        const delivery = held && rollouts.deliveryOf(key, held.version, instance);
        if (held && delivery !== 'hold') {
          const event = held;
          held = undefined;
          if (delivery === 'send') yield event;
          continue;
        }
        pending ??= events.next();
        const woken = held ? new Promise<'woken'>((resolve) => (wake = () => resolve('woken'))) : undefined;
        const result = woken ? await Promise.race([pending, woken]) : await pending;
        wake = undefined;
        if (result === 'woken') continue;
        pending = undefined;
        if (result.done) return;
        // A rollout the database announced before this change is known here before the change is sent on.
        if (rollouts.pending) await rollouts.settled();
        const next = rollouts.deliveryOf(key, result.value.version, instance);
        held = next === 'hold' ? result.value : undefined;
        if (next === 'send') yield result.value;
      }
    } finally {
      stopWatching();
      await events.return(undefined);
    }
  }

  private async *resume(key: ConfigKey, afterVersion: number | undefined, live: ChangeQueue): AsyncGenerator<ConfigEvent> {
    let cursor = afterVersion;
    if (cursor !== undefined) {
      for await (const event of this.changesBetween(key, cursor)) {
        yield event;
        cursor = event.version;
      }
    }
    for (;;) {
      const next = await live.next();
      if (next.done) return;
      const event = next.value;
      if (cursor !== undefined && event.version <= cursor) continue;
      if (cursor !== undefined && event.version > cursor + 1) {
        for await (const missed of this.changesBetween(key, cursor, event.version)) yield missed;
      }
      cursor = event.version;
      yield event;
    }
  }

  /**
   * The rollouts of one config as they begin, move a step and end (each gateway reloads them on the
   * database's notice), each read afresh; counted as an open subscription.
   */
  subscribeRollouts(key: ConfigKey): ChangeStream<Rollout> {
    const rollouts = this.store.rollouts;
    const k = keyString(key);
    const queue = new ChangeQueue<Rollout>();
    queue.whenEnded(rollouts.onChange((changed) => keyString(changed) === k && queue.push(changed)));
    this.openSubscriptions++;
    queue.whenEnded(() => this.openSubscriptions--);
    return changeStream(freshRollouts(queue, rollouts), queue);
  }

  /** Live changes of several configs (or all, when `accept` takes everything). Listens from the moment it is called. */
  subscribeMany(accept: (event: ConfigEvent) => boolean): ChangeStream {
    const queue = this.follow(new ChangeQueue(accept), this.everything);
    return changeStream(
      (async function* live() {
        for (let next = await queue.next(); !next.done; next = await queue.next()) yield next.value;
      })(),
      queue,
    );
  }

  /** Adds `queue` to `set` until it ends, counted as an open subscription. */
  private follow(queue: ChangeQueue, set: Set<ChangeQueue>): ChangeQueue {
    set.add(queue);
    this.openSubscriptions++;
    queue.whenEnded(() => {
      set.delete(queue);
      this.openSubscriptions--;
    });
    return queue;
  }
}

/** Each rollout the queue is told of, as the database has it now. */
async function* freshRollouts(queue: ChangeQueue<Rollout>, rollouts: ConfigRollouts): AsyncGenerator<Rollout> {
  for (let next = await queue.next(); !next.done; next = await queue.next()) {
    const fresh = await rollouts.find(next.value.id);
    if (fresh) yield fresh;
  }
}
