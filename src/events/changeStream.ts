import type { ConfigEvent } from '../protocol/changes.ts';

/**
 * One subscriber's live changes: the feed pushes them, one reader takes them in order. It ends once,
 * whichever comes first: its consumer leaves, or its owner ends it (with an error when its token ended).
 * Its end callbacks run then, however it ended.
 */
export class ChangeQueue<T = ConfigEvent> {
  private readonly buffer: T[] = [];
  private reader: ((result: IteratorResult<T>) => void) | undefined;
  private ended = false;
  private readonly endCallbacks: (() => void)[] = [];
  private failWith!: (error: Error) => void;
  /** Rejects once the queue is ended with an error. */
  readonly failure = new Promise<never>((_, reject) => {
    this.failWith = reject;
  });

  constructor(readonly accept: (event: T) => boolean = () => true) {
    this.failure.catch(() => {});
  }

  push(event: T): void {
    if (this.ended || !this.accept(event)) return;
    const reader = this.reader;
    this.reader = undefined;
    if (reader) reader({ done: false, value: event });
    else this.buffer.push(event);
  }

  /** The next change pushed; done once the queue has ended. */
  next(): Promise<IteratorResult<T>> {
    const value = this.buffer.shift();
    if (value) return Promise.resolve({ done: false, value });
    if (this.ended) return Promise.resolve({ done: true, value: undefined });
    return new Promise((resolve) => {
      this.reader = resolve;
    });
  }

  end(error?: Error): void {
    if (this.ended) return;
    this.ended = true;
    this.buffer.length = 0;
    if (error) this.failWith(error);
    const reader = this.reader;
    this.reader = undefined;
    reader?.({ done: true, value: undefined });
    for (const callback of this.endCallbacks.splice(0)) callback();
  }

  whenEnded(callback: () => void): void {
    if (this.ended) callback();
    else this.endCallbacks.push(callback);
  }
}

/** A subscription's stream of changes, as GraphQL reads it, that its owner can end. */
export interface ChangeStream<T = ConfigEvent> extends AsyncIterableIterator<T> {
  return(): Promise<IteratorResult<T>>;
  /** Ends the stream: a read under way or the next one is done, or fails with `error` (once). */
  end(error?: Error): void;
  /** Calls back once the stream has ended, however it ended. */
  whenEnded(callback: () => void): void;
}

/**
 * The stream of `events` (read from `queue`, maybe after a replay from the audit log), ended through the
 * queue: when the consumer returns, when its owner calls `end` (a read under way is interrupted, even in
 * the middle of a replay), and when `events` runs out.
 */
export function changeStream<T, Q>(events: AsyncGenerator<T>, queue: ChangeQueue<Q>): ChangeStream<T> {
  let failed = false;
  const finish = async (): Promise<IteratorResult<T>> => {
    queue.end();
    // Runs `events`' cleanup, or (never started) just marks it done.
    await events.return(undefined).catch(() => {});
    return { done: true, value: undefined };
  };
  const stream: ChangeStream<T> = {
    async next() {
      if (failed) return { done: true, value: undefined };
      try {
        const result = await Promise.race([events.next(), queue.failure]);
        if (result.done) queue.end();
        return result;
      } catch (error) {
        failed = true;
        void finish();
        throw error;
      }
    },
    return: finish,
    end: (error) => queue.end(error),
    whenEnded: (callback) => queue.whenEnded(callback),
    [Symbol.asyncIterator]: () => stream,
  };
  return stream;
}
