import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROLLOUT_ACTOR, instanceBucket, rolloutPlan } from '../src/store/rollouts.ts';
import type { ConfigEvent } from '../src/protocol/changes.ts';
import { useTestApp } from './support/app.ts';
import { backends } from './support/databases.ts';
import { readServerSentEvents } from './support/subscriber.ts';
import { eventually } from './support/waiting.ts';

// Progressive rollouts: a change served to a share of the instances at a time, advanced after each bake,
// rolled back on its own when an instance refuses it. This file holds the rules and one gateway on each
// database; rolloutFleet.test.ts runs the fleet: 20 ConfigClients, two gateways, NATS, restarts.

const author = { actor: 'release', reason: 'bigger batches' };

/** The first truthy value `probe` gives (the shared poll of support/waiting.ts). */
const until = async <T>(probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000, what = 'the condition'): Promise<T> =>
  (await eventually(probe, Boolean, timeoutMs, what)) as T;

/** Instance ids of a config, the first `inside` of them below `percent` and `outside` at or above it. */
export function instancesAround(service: string, percent: number, inside: number, outside: number, environment = 'production'): { inside: string[]; outside: string[] } {
  const key = { service, environment };
  const found = { inside: [] as string[], outside: [] as string[] };
  for (let n = 0; found.inside.length < inside || found.outside.length < outside; n++) {
    const id = `${service}-instance-${n}`;
    const side = instanceBucket(key, id) < percent * 100 ? found.inside : found.outside;
    if (side.length < (side === found.inside ? inside : outside)) side.push(id);
  }
  return found;
}

describe('the rules of a rollout', () => {
  it('takes rising percentages, a bake time and a threshold, and refuses the rest where they are', () => {
    expect(rolloutPlan({ steps: [10, 50, 100], bake: '5m' })).toEqual({ steps: [10, 50, 100], bakeMs: 300_000, maxErrors: 0 });
    expect(rolloutPlan({ steps: [25], bake: '1s', maxErrors: 3 })).toEqual({ steps: [25], bakeMs: 1_000, maxErrors: 3 });
    const refusals: [Parameters<typeof rolloutPlan>[0], string][] = [
      [{ steps: [], bake: '1m' }, '/rollout/steps'],
      [{ steps: Array.from({ length: 11 }, (_, i) => i + 1), bake: '1m' }, '/rollout/steps'],
      [{ steps: [0, 100], bake: '1m' }, '/rollout/steps/0'],
      [{ steps: [10, 101], bake: '1m' }, '/rollout/steps/1'],
      [{ steps: [50, 50], bake: '1m' }, '/rollout/steps/1'],
      [{ steps: [10.5], bake: '1m' }, '/rollout/steps/0'],
      [{ steps: [10], bake: 'soon' }, '/rollout/bake'],
      [{ steps: [10], bake: '500ms' }, '/rollout/bake'],
      [{ steps: [10], bake: '8d' }, '/rollout/bake'],
      [{ steps: [10], bake: '1m', maxErrors: -1 }, '/rollout/maxErrors'],
    ];
    for (const [input, pointer] of refusals) {
      expect(() => rolloutPlan(input), JSON.stringify(input)).toThrow(expect.objectContaining({ issues: [expect.objectContaining({ pointer })] }));
    }
  });

  it('puts each instance in one bucket for good, and spreads instances evenly', () => {
    const key = { service: 'collector', environment: 'production' };
    expect(instanceBucket(key, 'host-1:42')).toBe(instanceBucket(key, 'host-1:42'));
    const buckets = Array.from({ length: 4_000 }, (_, n) => instanceBucket(key, `host-${n}`));
    for (const percent of [10, 50, 90]) {
      const share = buckets.filter((bucket) => bucket < percent * 100).length / buckets.length;
      expect(Math.abs(share - percent / 100), `${percent}%`).toBeLessThan(0.03);
    }
    // Another config orders the same instances otherwise: not always the same hosts first everywhere.
    const other = Array.from({ length: 200 }, (_, n) => instanceBucket({ service: 'processor', environment: 'production' }, `host-${n}`));
    expect(other.filter((bucket, n) => bucket < 1000 === buckets[n]! < 1000).length).toBeLessThan(200);
  });
});

describe.each(backends)('rollouts on %s', (backend) => {
  const t = useTestApp(backend);

  const update = `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) {
    __typename ... on ConfigWrite { changed config { version config } rollout { id state stableVersion candidateVersion steps stepIndex percent bakeSeconds maxErrors createdBy } }
    ... on ValidationError { message issues { pointer message } } ... on Error { message } } }`;
  const read = `query($service: String!, $instance: String) { config(service: $service, instance: $instance) {
    __typename ... on ServiceConfig { version config updatedBy } ... on Error { message } } }`;
  const versionFor = async (service: string, instance?: string) => (await t.graphql(read, { service, instance })).data.config.version as number;

  it('serves the candidate to the step only, holds other changes, and completes when promoted through', async () => {
    const service = `rollout-basic-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const { inside, outside } = instancesAround(service, 20, 2, 2);
    const { data } = await t.graphql(update, { input: { service, patch: { batch: 500 }, reason: 'bigger batches', rollout: { steps: [20, 60, 100], bake: '1h' } } });
    expect(data.updateConfig).toMatchObject({
      __typename: 'ConfigWrite',
      changed: true,
      config: { version: 2 },
      rollout: { state: 'ACTIVE', stableVersion: 1, candidateVersion: 2, steps: [20, 60, 100], stepIndex: 0, percent: 20, bakeSeconds: 3600, maxErrors: 0, createdBy: 'admin' },
    });
    const id = data.updateConfig.rollout.id;
    for (const instance of inside) expect(await versionFor(service, instance), instance).toBe(2);
    for (const instance of outside) expect(await versionFor(service, instance), instance).toBe(1);
    // A caller that names no instance keeps the stable version too, with the stable version's own fields.
    const anonymous = (await t.graphql(read, { service })).data.config;
    expect(anonymous).toMatchObject({ version: 1, config: { batch: 100 } });
    // The audit log says which rollout wrote the candidate.
    const [change] = await t.app.store.history.listChanges({ service, environment: 'production' }, { take: 1 });
    expect(change!.reason).toBe(`bigger batches (rollout ${id}: 20%, 60%, 100%, bake 3600s)`);

    // Other changes wait for the rollout: refused with the rollout's id, nothing written.
    const refused = await t.graphql(update, { input: { service, patch: { batch: 1 } } });
    expect(refused.data.updateConfig).toMatchObject({ __typename: 'RolloutError' });
    expect(refused.data.updateConfig.message).toContain(`rollout ${id} of version 2`);
    const another = await t.graphql(update, { input: { service, patch: { batch: 1 }, rollout: { steps: [50], bake: '1m' } } });
    expect(another.data.updateConfig.__typename).toBe('RolloutError');
    expect((await t.app.store.getConfig(service, undefined, undefined, inside[0])).version).toBe(2);

    const promote = `mutation($id: String!) { promoteRollout(input: { id: $id, reason: "looks fine" }) { __typename ... on Rollout { state stepIndex percent } ... on Error { message } } }`;
    // A reason is checked as every text the hub keeps: a credential in it is refused, nothing moves.
    const leaky = await t.graphql(`mutation($id: String!) { promoteRollout(input: { id: $id, reason: "ok, password=Hunter2-Secret-Value" }) { __typename } }`, { id });
    expect(leaky.data.promoteRollout.__typename).toBe('SecretRejectedError');
    expect((await t.graphql(promote, { id })).data.promoteRollout).toMatchObject({ state: 'ACTIVE', stepIndex: 1, percent: 60 });
    expect((await t.graphql(promote, { id })).data.promoteRollout).toMatchObject({ state: 'ACTIVE', stepIndex: 2, percent: 100 });
    // At 100% every caller is served the candidate, named or not.
    expect(await versionFor(service)).toBe(2);
    expect((await t.graphql(promote, { id })).data.promoteRollout).toMatchObject({ state: 'COMPLETED', percent: 100 });
    for (const instance of [...inside, ...outside]) expect(await versionFor(service, instance)).toBe(2);
    expect((await t.graphql(promote, { id })).data.promoteRollout).toMatchObject({ __typename: 'RolloutError' });

    const shown = await t.graphql(`{ config(service: "${service}") { ... on ServiceConfig { rollout { id } rollouts { id state events { actor kind percent detail } } } } }`);
    expect(shown.data.config.rollout).toBeNull();
    expect(shown.data.config.rollouts[0].events.map((event: { kind: string; percent: number }) => `${event.kind} ${event.percent}`)).toEqual([
      'STARTED 20',
      'PROMOTED 60',
      'PROMOTED 100',
      'PROMOTED 100',
    ]);
    // Changes go through again.
    expect((await t.graphql(update, { input: { service, patch: { batch: 600 } } })).data.updateConfig.config.version).toBe(3);
  });

  it('rolls back on its own when an instance of the step refuses the candidate, as an audited rollback', async () => {
    const service = `rollout-refused-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const { inside } = instancesAround(service, 50, 1, 0);
    const { data } = await t.graphql(update, { input: { service, patch: { batch: 50_000 }, rollout: { steps: [50, 100], bake: '1h' } } });
    const id = data.updateConfig.rollout.id;
    const report = `mutation($input: ReportInstanceInput!) { reportInstance(input: $input) { __typename } }`;
    await t.graphql(report, { input: { service, instance: inside[0], status: 'READY', appliedVersion: 1, rejectedVersion: 2, error: 'batch must be at most 10000' } });
    const ended = await until(async () => {
      const rollout = await t.app.store.rollouts.find(id);
      return rollout?.state === 'rolled_back' && rollout;
    }, 10_000, 'the rollback');
    expect(ended).toMatchObject({ rollbackVersion: 3, endedBy: ROLLOUT_ACTOR });
    expect(ended.outcome).toBe(`instance ${inside[0]} refused version 2: batch must be at most 10000`);
    const config = await t.app.store.getConfig(service, undefined, undefined, inside[0]);
    expect(config).toMatchObject({ version: 3, config: { batch: 100 } });
    const [change] = await t.app.store.history.listChanges({ service, environment: 'production' }, { take: 1 });
    expect(change).toMatchObject({ version: 3, action: 'ROLLBACK', changedBy: ROLLOUT_ACTOR });
    expect(change!.reason).toBe(`rollout ${id} of version 2 rolled back: instance ${inside[0]} refused version 2: batch must be at most 10000`);
  });

  it('tolerates errors up to the threshold, then rolls back; aborts by hand', async () => {
    const service = `rollout-errors-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const { inside, outside } = instancesAround(service, 50, 2, 1);
    const first = await t.app.store.updateConfig({ service, patch: { batch: 200 }, rollout: { steps: [50, 100], bake: '1h', maxErrors: 1 } }, author);
    const report = (instance: string) => t.app.store.instances.report({ service, instance, status: 'ERROR', appliedVersion: 2, error: 'queue overflow' });
    // An instance outside the step does not count; one inside is tolerated.
    await report(outside[0]!);
    await report(inside[0]!);
    await sleep(2_500);
    expect((await t.app.store.rollouts.find(first.rollout!.id))!.state).toBe('active');
    await report(inside[1]!);
    const ended = await until(async () => {
      const rollout = await t.app.store.rollouts.find(first.rollout!.id);
      return rollout?.state === 'rolled_back' && rollout;
    }, 10_000, 'the rollback');
    expect(ended.outcome).toMatch(/^2 instance\(s\) report errors \(at most 1 tolerated\)/);

    // An abort by hand: the stable version written back by the caller.
    const second = await t.app.store.updateConfig({ service, patch: { batch: 300 }, rollout: { steps: [10], bake: '1h' } }, author);
    expect(second.rollout).toMatchObject({ stableVersion: 3, candidateVersion: 4 });
    const { data } = await t.graphql(`mutation($id: String!) { abortRollout(input: { id: $id, reason: "wrong value" }) { __typename ... on Rollout { state rollbackVersion endedBy outcome } } }`, {
      id: second.rollout!.id,
    });
    expect(data.abortRollout).toMatchObject({ state: 'ABORTED', rollbackVersion: 5, endedBy: 'admin', outcome: 'aborted by admin: wrong value' });
    const [change] = await t.app.store.history.listChanges({ service, environment: 'production' }, { take: 1 });
    expect(change).toMatchObject({ version: 5, action: 'ROLLBACK', changedBy: 'admin' });
    expect((await t.app.store.getConfig(service)).config).toEqual({ batch: 100 });
  });

  it('advances after each bake without failures and completes on its own', async () => {
    const service = `rollout-bake-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const write = await t.app.store.updateConfig({ service, patch: { batch: 200 }, rollout: { steps: [30, 100], bake: '1s' } }, author);
    const done = await until(async () => {
      const rollout = await t.app.store.rollouts.find(write.rollout!.id);
      return rollout?.state === 'completed' && rollout;
    }, 15_000, 'the completion');
    expect(done.endedBy).toBe(ROLLOUT_ACTOR);
    const kinds = (await t.app.store.rollouts.events(done.id)).map((event) => `${event.kind} ${event.percent} ${event.actor}`);
    expect(kinds).toEqual(['started 30 release', `advanced 100 ${ROLLOUT_ACTOR}`, `completed 100 ${ROLLOUT_ACTOR}`]);
  });

  it('holds the candidate from a subscriber outside the step until its step comes', async () => {
    const service = `rollout-live-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const { inside, outside } = instancesAround(service, 40, 1, 1);
    const key = { service, environment: 'production' };
    const seen = { inside: [] as ConfigEvent[], outside: [] as ConfigEvent[] };
    const streams = (['inside', 'outside'] as const).map((side) => {
      const stream = t.app.feed.subscribe(key, 1, side === 'inside' ? inside[0] : outside[0]);
      void (async () => {
        for await (const event of stream) seen[side].push(event);
      })();
      return stream;
    });
    try {
      const write = await t.app.store.updateConfig({ service, patch: { batch: 200 }, rollout: { steps: [40, 100], bake: '1h' } }, author);
      await until(async () => seen.inside.length === 1, 5_000, 'the candidate inside the step');
      await sleep(500);
      expect(seen.outside).toEqual([]);
      expect(seen.inside[0]).toMatchObject({ version: 2, config: { batch: 200 } });
      await t.app.store.rollouts.promote(write.rollout!.id, { actor: 'release' });
      await until(async () => seen.outside.length === 1, 5_000, 'the candidate outside, once its step came');
      expect(seen.outside[0]).toMatchObject({ version: 2, config: { batch: 200 } });
      expect(await t.app.store.rollouts.promote(write.rollout!.id, { actor: 'release' })).toMatchObject({ state: 'completed' });

      // A rollout aborted (or rolled back): the candidate never reaches the instance outside its step, only
      // the version that writes the stable content back; inside, the candidate and then that version.
      const second = await t.app.store.updateConfig({ service, patch: { batch: 300 }, rollout: { steps: [40, 100], bake: '1h' } }, author);
      await until(async () => seen.inside.length === 2, 5_000, 'the second candidate inside');
      await t.app.store.abortRollout(second.rollout!.id, { actor: 'release', reason: 'no' });
      await until(async () => seen.outside.length === 2 && seen.inside.length === 3, 5_000, 'the rollback everywhere');
      await sleep(300);
      expect(seen.outside.map((event) => event.version)).toEqual([2, 4]);
      expect(seen.inside.map((event) => event.version)).toEqual([2, 3, 4]);
      expect(seen.outside[1]).toMatchObject({ action: 'ROLLBACK', config: { batch: 200 } });
    } finally {
      for (const stream of streams) await stream.return();
    }
  });

  it('holds the candidate on the SSE stream too, until the instance is in the step', async () => {
    const service = `rollout-sse-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const { outside } = instancesAround(service, 30, 0, 1);
    const abort = new AbortController();
    const response = await t.app.fetch(
      new Request('http://confighub.test/graphql', {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'text/event-stream', authorization: `Bearer ${t.adminToken}` },
        body: JSON.stringify({
          query: 'subscription($service: String!, $instance: String) { configChanged(service: $service, afterVersion: 1, instance: $instance) { version config } }',
          variables: { service, instance: outside[0] },
        }),
        signal: abort.signal,
      }),
    );
    expect(response.headers.get('content-type')).toMatch(/^text\/event-stream/);
    const { received, errors, stop } = readServerSentEvents<{ version: number; config: { batch: number } }>(response, 'configChanged');
    try {
      const write = await t.app.store.updateConfig({ service, patch: { batch: 300 }, rollout: { steps: [30, 100], bake: '1h' } }, author);
      await sleep(700);
      expect(received).toEqual([]);
      await t.app.store.rollouts.promote(write.rollout!.id, { actor: 'release' });
      await until(async () => received.length === 1, 5_000, 'the candidate over SSE once the step came');
      expect(received[0]).toEqual({ version: 2, config: { batch: 300 } });
      expect(errors).toEqual([]);
    } finally {
      abort.abort();
      await stop();
    }
  });

  it('refuses a rollout it cannot run: an override, a bad plan, a protected environment', async () => {
    const service = `rollout-refusals-${backend}`;
    await t.app.store.createConfig({ service, config: { batch: 100 } }, author);
    const bad = await t.graphql(update, { input: { service, patch: { batch: 1 }, rollout: { steps: [60, 40], bake: '1m' } } });
    expect(bad.data.updateConfig).toMatchObject({ __typename: 'ValidationError', issues: [{ pointer: '/rollout/steps/1' }] });
    const both = await t.graphql(update, { input: { service, patch: { batch: 1 }, expiresIn: '1h', rollout: { steps: [50], bake: '1m' } } });
    expect(both.data.updateConfig).toMatchObject({ __typename: 'ValidationError', issues: [{ pointer: '/rollout' }] });
    const dry = await t.graphql(update, { input: { service, patch: { batch: 1 }, dryRun: true, rollout: { steps: [50], bake: '1m' } } });
    expect(dry.data.updateConfig).toMatchObject({ changed: true, rollout: null });
    const same = await t.graphql(update, { input: { service, patch: { batch: 100 }, rollout: { steps: [50], bake: '1m' } } });
    expect(same.data.updateConfig).toMatchObject({ changed: false, rollout: null });
    const tooLong = await t.graphql(read, { service, instance: 'x'.repeat(257) });
    expect(tooLong.data.config).toMatchObject({ __typename: 'ValidationError' });
    expect((await t.app.store.getConfig(service)).version).toBe(1);
    expect(await t.app.store.rollouts.list({ service, environment: 'production' })).toEqual([]);

    const guarded = `rollout-guarded-${backend}`;
    await t.app.store.createConfig({ service, environment: guarded, config: { batch: 100 } }, author);
    await t.app.store.protection.protect(guarded, 1, { actor: 'admin' });
    const protectedWrite = await t.graphql(update, { input: { service, environment: guarded, patch: { batch: 1 }, reason: 'x', rollout: { steps: [50], bake: '1m' } } });
    expect(protectedWrite.data.updateConfig).toMatchObject({ __typename: 'ChangeRequestError' });
    expect(protectedWrite.data.updateConfig.message).toContain('breaking glass');
    const glass = await t.graphql(update, { input: { service, environment: guarded, patch: { batch: 1 }, reason: 'hotfix', breakGlass: true, rollout: { steps: [50], bake: '1m' } } });
    expect(glass.data.updateConfig).toMatchObject({ __typename: 'ConfigWrite', changed: true, rollout: { state: 'ACTIVE' } });
    await t.app.store.protection.unprotect(guarded);
  });
});
