// The configs the write benchmarks (bench:write, bench:write-ab) update, and the updates they send.
import { benchAuth } from './auth.ts';
import type { ChildServer } from './children.ts';

export const CONFIG_COUNT = 100;
export const SERVICE_PREFIX = 'bench-svc-';
export const REASON = 'bench:write';
export const GRAPHQL_PATH = '/graphql';

/** The read bench:read measures (and bench:abuse's honest traffic): one cached config. */
export const READ_QUERY = `query GetConfig {
  config(service: "polygon-historical-downloader") {
    __typename
    ... on ServiceConfig { id service environment version config description updatedAt updatedBy }
    ... on Error { message }
  }
}`;
/** The seeded config whose document each benchmark config copies (a realistic size). */
const TEMPLATE_SERVICE = 'polygon-historical-downloader';

export const UPDATE_MUTATION = `mutation Bump($input: UpdateConfigInput!) {
  updateConfig(input: $input) {
    __typename
    ... on ConfigWrite { previousVersion config { version } }
    ... on Error { message }
  }
}`;

const CREATE_MUTATION = `mutation Create($input: CreateConfigInput!) {
  createConfig(input: $input) {
    __typename
    ... on Error { message }
  }
}`;

export async function graphql<T>(gateway: ChildServer, query: string, variables: Record<string, unknown> = {}): Promise<T> {
  const response = await fetch(`${gateway.url}${GRAPHQL_PATH}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...benchAuth },
    body: JSON.stringify({ query, variables }),
    signal: AbortSignal.timeout(30_000),
  });
  const body = (await response.json()) as { data?: T; errors?: unknown };
  if (!response.ok || body.errors || !body.data) throw new Error(`GraphQL request failed (${response.status}): ${JSON.stringify(body)}`);
  return body.data;
}

/** bench-svc-1 .. bench-svc-100, each a copy of a seeded config plus a counter, created through the gateway. */
export async function createBenchConfigs(gateway: ChildServer): Promise<void> {
  const { config } = await graphql<{ config: { config: Record<string, unknown> } }>(
    gateway,
    `{ config(service: "${TEMPLATE_SERVICE}") { ... on ServiceConfig { config } } }`,
  );
  for (let id = 1; id <= CONFIG_COUNT; id++) {
    const input = { service: `${SERVICE_PREFIX}${id}`, config: { ...config.config, counter: 0 }, reason: 'bench:write setup' };
    const { createConfig } = await graphql<{ createConfig: { __typename: string; message?: string } }>(gateway, CREATE_MUTATION, { input });
    if (createConfig.__typename !== 'ConfigWrite') throw new Error(`creating ${input.service} failed: ${JSON.stringify(createConfig)}`);
  }
}

/** One counter for the whole run: an update never sets the value a config already holds (nothing would be written). */
let counter = 0;

/** The next update's body: a merge patch setting a new counter value on a config picked at random (as pgbench does). */
export function nextUpdateBody(): string {
  counter++;
  const service = `${SERVICE_PREFIX}${1 + Math.floor(Math.random() * CONFIG_COUNT)}`;
  return JSON.stringify({ query: UPDATE_MUTATION, variables: { input: { service, patch: { counter }, reason: REASON } } });
}

/** Whether an answer is a write. */
export const isWrite = (body: string) => body.includes('"__typename":"ConfigWrite"');

/** The gateway's group-commit counters (GET /metrics); undefined from a gateway without them (an older checkout). */
export async function writeCounters(gateway: ChildServer): Promise<{ statements: number; rows: number } | undefined> {
  const text = await (await fetch(`${gateway.url}/metrics`, { signal: AbortSignal.timeout(10_000) })).text();
  const read = (name: string) => {
    const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
    return line === undefined ? undefined : Number(line.slice(name.length + 1));
  };
  const statements = read('confighub_write_statements_total');
  const rows = read('confighub_write_rows_total');
  return statements === undefined || rows === undefined ? undefined : { statements, rows };
}
