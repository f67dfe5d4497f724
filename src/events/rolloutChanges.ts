import type { ConfigKey } from '../store/names.ts';
import { keyString } from '../store/names.ts';
import type { ConfigRollouts, Rollout } from '../store/rollouts.ts';

/** The most changes a slow subscriber's stream holds; older ones are dropped (the newest state is what counts). */
const MAX_WAITING = 100;

/**
 * The rollouts of one config as they begin, move a step and end (what every gateway reloads on the
 * database's notice), each read afresh; ended by its consumer or its owner (a token that ended).
 */
export function rolloutChanges(rollouts: ConfigRollouts, key: ConfigKey): AsyncIterableIterator<Rollout> & {
  end(error?: Error): void;
  whenEnded(callback: () => void): void;
} {
  const k = keyString(key);
  const waiting: string[] = [];
  let wake: (() => void) | undefined;
  let ended = false;
  let failure: Error | undefined;
  const endCallbacks: (() => void)[] = [];
  const stop = rollouts.onChange((changed) => {
    if (keyString(changed) !== k) return;
    if (!waiting.includes(changed.id)) waiting.push(changed.id);
    if (waiting.length > MAX_WAITING) waiting.shift();
    wake?.();
  });
  const end = (error?: Error) => {
    if (ended) return;
    ended = true;
    failure = error;
    stop();
    wake?.();
    for (const callback of endCallbacks.splice(0)) callback();
  };
  const stream = {
    async next(): Promise<IteratorResult<Rollout>> {
      for (;;) {
        if (ended) {
          if (failure) {
            const error = failure;
            failure = undefined;
            throw error;
          }
          return { done: true, value: undefined };
        }
        const id = waiting.shift();
        if (id !== undefined) {
          const rollout = await rollouts.find(id);
          if (rollout && !ended) return { done: false, value: rollout };
          continue;
        }
        await new Promise<void>((resolve) => (wake = resolve));
        wake = undefined;
      }
    },
    async return(): Promise<IteratorResult<Rollout>> {
      end();
      return { done: true, value: undefined };
    },
    end,
    whenEnded(callback: () => void) {
      if (ended) callback();
      else endCallbacks.push(callback);
    },
    [Symbol.asyncIterator]() {
      return stream;
    },
  };
  return stream;
}
