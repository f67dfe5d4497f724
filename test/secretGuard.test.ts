import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findSecrets } from '../src/store/secretGuard.ts';
import { adminAuth, createTestApp, type TestApp } from './support/app.ts';
import { tablesDigest } from './support/databases.ts';

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumMeSoQ2Wd\n-----END RSA PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';

describe('secret guard', () => {
  it.each([
    ['snake_case key', { db_password: 'x' }, '/db_password'],
    ['camelCase key', { dbPassword: 'x' }, '/dbPassword'],
    ['upper case key', { DB_PASSWORD: 'x' }, '/DB_PASSWORD'],
    ['kebab key', { 'db-passwd': 'x' }, '/db-passwd'],
    ['split word', { pass_word: 'x' }, '/pass_word'],
    ['nested deep', { a: { b: { c: { client_secret: 'x' } } } }, '/a/b/c/client_secret'],
    ['inside an array', { brokers: [{ host: 'h', apiKey: 'k' }] }, '/brokers/0/apiKey'],
    ['api_key', { polygon_api_key: 'abc' }, '/polygon_api_key'],
    ['private key name', { privateKey: 'abc' }, '/privateKey'],
    ['credentials object', { credentials: { user: 'u' } }, '/credentials'],
    ['token as last word', { github_token: 'abc' }, '/github_token'],
    ['access token', { accessToken: 'abc' }, '/accessToken'],
    ['numeric password', { admin_pwd: 1234 }, '/admin_pwd'],
    ['a key with a slash', { 'db/password': 'x' }, '/db~1password'],
    ['PEM block under an innocent key', { tls: { material: PEM } }, '/tls/material'],
    ['URL with user and password', { upstream: 'postgres://app:s3cret@db.internal:5432/ticks' }, '/upstream'],
    ['JWT in a list', { headers: ['x', JWT] }, '/headers/1'],
    ['AWS access key id', { aws: 'AKIAIOSFODNN7EXAMPLE' }, '/aws'],
    ['GitHub token', { ci: 'ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789' }, '/ci'],
    ['Slack token', { hook: 'xoxb-1234567890-abcdefghij' }, '/hook'],
    ['Stripe key', { billing: 'sk_live_abcdefghijklmnop1234' }, '/billing'],
    ['bearer credential', { header: 'Bearer abcdefghijklmnopqrstuvwxyz012345' }, '/header'],
  ])('finds a secret: %s', (_name, document, pointer) => {
    expect(findSecrets(document as never).map((issue) => issue.pointer)).toEqual([pointer]);
  });

  it('lets ordinary settings through', () => {
    const settings = {
      operational: { batch_size: 5000, max_tokens: 4096, token_bucket_size: 10, sort_key: 'ts', partition_key: 'symbol' },
      features: { enable_secret_rotation: true, passwordless_login: true },
      business: { api_base_url: 'https://api.polygon.io/v2', max_daily_api_calls: 50_000, keywords: ['password reset'] },
      credentials: null,
    };
    expect(findSecrets(settings)).toEqual([]);
  });

  it('lets a field through where the allowed pointers say it is not secret', () => {
    expect(findSecrets({ auth: { token_ttl: 'x', session_token: 'y' } }, new Set(['/auth/session_token']))).toEqual([]);
  });
});

describe('the hub refuses secrets', () => {
  let hub: TestApp;
  beforeAll(async () => {
    hub = await createTestApp('pglite');
  });
  afterAll(async () => {
    await hub?.close();
  });

  it.each([
    ['a password key', { db_password: 'x' }, '/config/db_password'],
    ['a PEM block', { tls: PEM }, '/config/tls'],
  ])('refuses %s through GraphQL with its pointer and writes nothing', async (_name, patch, pointer) => {
    const before = await tablesDigest(hub.db);
    const result = await hub.graphql(
      `mutation($patch: JSON) { updateConfig(input: { service: "tick-aggregator", patch: $patch }) {
         __typename ... on SecretRejectedError { issues { pointer message } advice } } }`,
      { patch },
    );
    expect(result.data.updateConfig.__typename).toBe('SecretRejectedError');
    expect(result.data.updateConfig.issues.map((issue: { pointer: string }) => issue.pointer)).toEqual([pointer]);
    expect(result.data.updateConfig.advice).toMatch(/environment/);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses a secret through REST with 422 and writes nothing', async () => {
    const before = await tablesDigest(hub.db);
    const response = await hub.app.fetch(
      new Request('http://confighub.test/api/v1/config/tick-aggregator', {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...adminAuth },
        body: JSON.stringify({ operational: { upstream: 'https://bot:hunter2@feeds.example.com/ticks' } }),
      }),
    );
    expect(response.status).toBe(422);
    const body = (await response.json()) as { error: { code: string; issues: { pointer: string }[] } };
    expect(body.error.code).toBe('SECRET_REJECTED');
    expect(body.error.issues.map((issue) => issue.pointer)).toEqual(['/config/operational/upstream']);
    expect(await tablesDigest(hub.db)).toBe(before);
  });

  it('refuses a new config holding a secret', async () => {
    const result = await hub.graphql(
      `mutation { createConfig(input: { service: "leaky", config: { nested: { apiKey: "abc" } } }) { __typename } }`,
    );
    expect(result.data.createConfig.__typename).toBe('SecretRejectedError');
    const lookup = await hub.graphql(`{ config(service: "leaky") { __typename } }`);
    expect(lookup.data.config.__typename).toBe('NotFoundError');
  });
});
