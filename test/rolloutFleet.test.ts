import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { openDatabase } from '../src/db/database.ts';
import { ConfigClient } from '../src/client/index.ts';
import { ROLLOUT_ACTOR, instanceBucket } from '../src/store/rollouts.ts';
import { type TestApp, createTestApp } from './support/app.ts';
import { Settings, fastBackoff } from './support/client.ts';
import { type TestDatabase, createPostgresDatabase } from './support/databases.ts';
import { NatsServer } from './support/nats.ts';
import { eventually, freePort } from './support/waiting.ts';
import { connect } from '@nats-io/transport-node';
import { type ConfigEvent, type RolloutNotice, rolloutSubjectFor, subjectFor } from '../src/protocol/changes.ts';

// The fleet: a three-step rollout to 20 running ConfigClients (each its own instance id, half on each
// of two gateways on one PostgreSQL, with NATS between the gateways). Only the first step's clients get
// the candidate; one of them refusing it rolls everything back within the bake time; a clean rollout
// reaches every client, through a restart of both gateways in the middle of a bake, acting once per step.

const STEPS = [10, 50, 100];
const document = { operational: { batch_size: 100, gap_check_interval_hours: 6 }, features: { fast_path: false } };
/** What one cautious instance accepts: smaller batches than the others. */
const Cautious = Settings.extend({ operational: z.object({ batch_size: z.number().int().max(1_000), gap_check_interval_hours: z.number().positive() }) });

interface Gateway {
  test: TestApp;
  url: string;
  close(): Promise<void>;
}

interface Member {
  id: string;
  /** The step (0, 1, 2) whose share first covers the instance. */
  step: number;
  client: ConfigClient<Settings>;
  /** Every version the client applied, with when. */
  applied: { version: number; at: number }[];
}

/** 20 instance ids of a config: 2 in the first step, 8 more in the second, 10 in the last. */
function fleetIds(service: string): { id: string; step: number }[] {
  const wanted = [2, 8, 10];
  const found: { id: string; step: number }[] = [];
  const key = { service, environment: 'production' };
  for (let n = 0; found.length < 20; n++) {
    const id = `${service}-pod-${n}`;
    const bucket = instanceBucket(key, id);
    const step = STEPS.findIndex((percent) => bucket < percent * 100);
    if (found.filter((member) => member.step === step).length < wanted[step]!) found.push({ id, step });
  }
  return found;
}

/** Waits until `condition` holds (the shared poll of support/waiting.ts). */
const until = (condition: () => boolean | Promise<boolean>, timeoutMs: number, what: string) => eventually(async () => condition(), Boolean, timeoutMs, what);

describe('a rollout to a fleet of 20 clients on two gateways', () => {
  let nats: NatsServer;
  let databaseUrl: string;
  let ports: number[];
  let gateways: Gateway[] = [];

  async function openGateway(port: number): Promise<Gateway> {
    const database: TestDatabase = Object.assign(await openDatabase({ url: databaseUrl }), { url: databaseUrl });
    const test = await createTestApp('postgres', { natsUrl: nats.url, database, settings: { PORT: port } });
    const url = await test.app.start();
    return {
      test,
      url,
      async close() {
        await test.close();
        await database.close();
      },
    };
  }

  const openBoth = async () => {
    gateways = await Promise.all(ports.map((port) => openGateway(port)));
  };
  const closeBoth = async () => {
    await Promise.all(gateways.map((gateway) => gateway.close()));
    gateways = [];
  };

  beforeAll(async () => {
    nats = await NatsServer.start();
    databaseUrl = await createPostgresDatabase();
    ports = [await freePort(), await freePort()];
    await openBoth();
  }, 60_000);

  afterAll(async () => {
    await closeBoth();
    await nats?.stop();
  });

  async function startFleet(service: string, cautious?: string, options: { live?: 'nats'; only?: (step: number) => boolean } = {}): Promise<Member[]> {
    const members = fleetIds(service).filter(({ step }) => options.only?.(step) ?? true).map(({ id, step }, index): Member => {
      const applied: { version: number; at: number }[] = [];
      const client = new ConfigClient<Settings>({
        service,
        hub: { url: `http://127.0.0.1:${ports[index % 2]}`, token: gateways[0]!.test.adminToken, timeoutMs: 2_000 },
        defaults: document,
        schema: id === cautious ? Cautious : Settings,
        snapshotFile: false,
        live: options.live === 'nats' ? { via: 'nats', servers: nats.url } : { via: 'graphql-ws', keepAliveMs: 1_000 },
        backoff: fastBackoff,
        instanceId: id,
      });
      client.onStatus((status) => {
        if (status.version !== null && applied.at(-1)?.version !== status.version) applied.push({ version: status.version, at: Date.now() });
      });
      return { id, step, client, applied };
    });
    for (const member of members) member.client.start();
    await until(() => members.every((member) => member.client.status.version === 1), 20_000, 'every client on version 1');
    return members;
  }

  const stopFleet = (members: Member[]) => Promise.all(members.map((member) => member.client.close()));

  async function rollOut(service: string, patch: object, bake: string): Promise<string> {
    const { data } = await gateways[0]!.test.graphql(
      `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { __typename ... on ConfigWrite { config { version } rollout { id } } ... on Error { message } } }`,
      { input: { service, patch, reason: 'fleet test', rollout: { steps: STEPS, bake } } },
    );
    expect(data.updateConfig).toMatchObject({ __typename: 'ConfigWrite', config: { version: 2 } });
    return data.updateConfig.rollout.id;
  }

  it('serves the first step only, and rolls everything back within the bake time when one of its clients refuses', async () => {
    const service = 'fleet-refused';
    await gateways[0]!.test.app.store.createConfig({ service, config: document }, { actor: 'test' });
    const cautious = fleetIds(service).find((member) => member.step === 0)!.id;
    const members = await startFleet(service, cautious);
    try {
      const id = await rollOut(service, { operational: { batch_size: 2_000 } }, '8s');
      await until(() => members.every((member) => member.client.status.version === 3), 8_000, 'every client back on the stable content (version 3)');
      const rollout = (await gateways[1]!.test.app.store.rollouts.find(id))!;
      expect(rollout).toMatchObject({ state: 'rolled_back', endedBy: ROLLOUT_ACTOR, rollbackVersion: 3 });
      expect(rollout.outcome).toContain(`instance ${cautious} refused version 2`);
      // Within the first step's bake time.
      expect(rollout.endedAt!.getTime() - rollout.createdAt.getTime()).toBeLessThan(8_000);
      for (const member of members) {
        expect(member.client.get('operational.batch_size'), member.id).toBe(100);
        // Only the first step ever ran the candidate; the cautious one refused it.
        const ranCandidate = member.applied.some((entry) => entry.version === 2);
        expect(ranCandidate, member.id).toBe(member.step === 0 && member.id !== cautious);
      }
      expect(members.find((member) => member.id === cautious)!.client.lastRejection).toBeNull(); // cleared by version 3
    } finally {
      await stopFleet(members);
    }
  }, 90_000);

  it('reaches every client step by step, through a restart of both gateways in the middle of a bake, acting once per step', async () => {
    const service = 'fleet-clean';
    await gateways[0]!.test.app.store.createConfig({ service, config: document }, { actor: 'test' });
    const members = await startFleet(service);
    try {
      const id = await rollOut(service, { operational: { batch_size: 500 } }, '3s');
      await until(() => members.filter((member) => member.step === 0).every((member) => member.client.status.version === 2), 15_000, 'the first step on the candidate');
      await sleep(500);
      for (const member of members) expect(member.client.status.version, member.id).toBe(member.step === 0 ? 2 : 1);

      // Both gateways go down in the middle of the first bake, and come back.
      await closeBoth();
      await sleep(1_000);
      await openBoth();

      await until(async () => (await gateways[0]!.test.app.store.rollouts.find(id))?.state === 'completed', 20_000, 'the rollout completing');
      await until(() => members.every((member) => member.client.status.version === 2), 10_000, 'every client on the candidate');
      const events = await gateways[0]!.test.app.store.rollouts.events(id);
      expect(events.map((event) => `${event.kind} ${event.percent}`)).toEqual(['started 10', 'advanced 50', 'advanced 100', 'completed 100']);
      // No client got the candidate before its step began (same host clock; 100 ms for the event's own commit).
      const began = [events[0]!.at.getTime(), events[1]!.at.getTime(), events[2]!.at.getTime()];
      for (const member of members) {
        const got = member.applied.find((entry) => entry.version === 2)!;
        expect(got.at, `${member.id} (step ${member.step})`).toBeGreaterThanOrEqual(began[member.step]! - 100);
      }
      // One version written: the candidate; nobody rolled anything back.
      const versions = await gateways[1]!.test.db.query<{ count: number }>(`SELECT count(*)::int AS count FROM config_audit_log WHERE service_name = $1`, [service]);
      expect(versions[0]!.count).toBe(2);
    } finally {
      await stopFleet(members);
    }
  }, 120_000);

  it('on NATS: the candidate goes out marked with who it is for, each move is announced, and ConfigClients on NATS follow the steps', async () => {
    const service = 'fleet-nats';
    await gateways[0]!.test.app.store.createConfig({ service, config: document }, { actor: 'test' });
    const observer = await connect({ servers: nats.url, name: 'rollout-observer' });
    const updates: ConfigEvent[] = [];
    const notices: RolloutNotice[] = [];
    observer.subscribe(subjectFor(service), { callback: (_error, message) => void updates.push(message.json<ConfigEvent>()) });
    observer.subscribe(rolloutSubjectFor(service), { callback: (_error, message) => void notices.push(message.json<RolloutNotice>()) });
    await observer.flush();
    // Two clients of the first step and two of the last, following NATS (not graphql-ws).
    const taken = [0, 0, 0];
    const members = await startFleet(service, undefined, { live: 'nats', only: (step) => step !== 1 && taken[step]!++ < 2 });
    try {
      expect(members.map((member) => member.step).sort()).toEqual([0, 0, 2, 2]);
      const id = await rollOut(service, { operational: { batch_size: 700 } }, '1h');
      await until(() => members.filter((member) => member.step === 0).every((member) => member.client.status.version === 2), 15_000, 'the first step on the candidate');
      await until(() => updates.some((event) => event.version === 2), 15_000, 'the candidate on NATS');
      expect(updates.find((event) => event.version === 2)!.rollout).toEqual({ id, stableVersion: 1, percent: 10 });
      await sleep(700);
      for (const member of members) expect(member.client.status.version, member.id).toBe(member.step === 0 ? 2 : 1);

      const promote = `mutation($id: String!) { promoteRollout(input: { id: $id }) { __typename ... on Rollout { percent state } } }`;
      await gateways[1]!.test.graphql(promote, { id });
      await until(() => notices.some((notice) => notice.percent === 50), 5_000, 'the notice of the second step');
      await sleep(700);
      for (const member of members) expect(member.client.status.version, member.id).toBe(member.step === 0 ? 2 : 1);
      await gateways[1]!.test.graphql(promote, { id });
      await until(() => members.every((member) => member.client.status.version === 2), 5_000, 'every client on the candidate at 100%');
      await gateways[1]!.test.graphql(promote, { id });
      await until(() => notices.some((notice) => notice.state === 'completed'), 5_000, 'the notice of the completion');
      expect(notices.map((notice) => `${notice.state} ${notice.percent}`)).toEqual(['active 50', 'active 100', 'completed 100']);
      expect(notices[0]).toMatchObject({ service, environment: 'production', id, stableVersion: 1, candidateVersion: 2 });
    } finally {
      await stopFleet(members);
      await observer.close();
    }
  }, 90_000);
});
