// A corpus of bad inputs, each refused with a specific error while the database stays byte-for-byte
// unchanged (DESIGN.md invariant 4: a request that fails writes nothing). One table drives one test per
// case, on both databases: GraphQL in-process (yoga.fetch), GraphQL and REST over real HTTP, and
// graphql-ws on a real port. A case marked `defect` asserts the right behaviour and fails, visibly, until
// the product is fixed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MAX_BODY_BYTES } from '../src/server/body.ts';
import { TEST_ADMIN_TOKEN, createTestApp, type TestApp } from './support/app.ts';
import { type Outcome, graphqlOutcome, rawWebSocketOutcome, restOutcome, storedDigest, webSocketOutcome } from './support/badInput.ts';
import { backends, tablesDigest } from './support/databases.ts';

/** How a case is sent. */
type Send =
  /** GraphQL in-process through yoga (`app.fetch`), as JSON { query, variables }. */
  | { via: 'graphql'; query: string; variables?: Record<string, unknown> }
  /** Real HTTP to the listening gateway: REST routes and /graphql with a raw body. */
  | { via: 'http'; method?: string; path: string; body?: string | Uint8Array; headers?: Record<string, string> }
  /** graphql-ws on the gateway's port, one socket per case; `connectionParams` replace the credential's. */
  | { via: 'ws'; query: string; variables?: Record<string, unknown>; connectionParams?: Record<string, unknown> }
  /** graphql-ws, the subscribe message written as raw text (numbers JSON.stringify cannot write). */
  | { via: 'ws-raw'; message: string };

interface Expected {
  /** HTTP status (or the statuses allowed); checked for HTTP cases. */
  status?: number | number[];
  /** See Outcome.code: REST error code, GraphQL typename or extensions.code, or a WebSocket close. */
  code: string | RegExp;
  /** A fragment of the message that tells the caller what to fix. */
  message: RegExp;
  /** Every pointer of a ValidationError / SecretRejectedError, in any order. */
  pointers?: string[];
}

/**
 * Who sends a case: the bootstrap admin by default; otherwise no token, a credential the hub refuses,
 * or a token (made in beforeAll) whose role or scope does not cover the request.
 */
type Credential =
  | 'admin'
  | 'none'
  | 'basic'
  | 'unknown'
  | 'expired'
  | 'revoked'
  | 'reader'
  | 'liveReader'
  | 'editor'
  | 'polygonEditor'
  | 'stagingEditor';

/** The tokens beforeAll makes, by credential, with what they may do. */
const TOKEN_GRANTS = {
  reader: { role: 'reader' },
  liveReader: { role: 'reader', services: ['polygon-live-collector'] },
  editor: { role: 'editor' },
  polygonEditor: { role: 'editor', services: ['polygon-*'] },
  stagingEditor: { role: 'editor', environments: ['staging'] },
  expired: { role: 'admin' },
  revoked: { role: 'admin' },
} as const;

interface BadInput {
  name: string;
  send: Send;
  expected: Expected;
  /** @default 'admin' */
  as?: Credential;
  /** A known defect this case shows: the case asserts the right behaviour and fails until it is fixed. */
  defect?: string;
}

// ---------------------------------------------------------------------------------------------------
// Documents and values the cases share.

const WRITE_RESULT = `__typename ... on Error { message } ... on ValidationError { issues { pointer } }
  ... on SecretRejectedError { issues { pointer } } ... on ConfigWrite { changed }`;
const UPDATE = `mutation($input: UpdateConfigInput!) { updateConfig(input: $input) { ${WRITE_RESULT} } }`;
const CREATE = `mutation($input: CreateConfigInput!) { createConfig(input: $input) { ${WRITE_RESULT} } }`;
const ROLLBACK = `mutation($input: RollbackConfigInput!) { rollbackConfig(input: $input) { ${WRITE_RESULT} } }`;
const CREATE_TOKEN = `mutation($input: CreateTokenInput!) { createToken(input: $input) {
  __typename ... on Error { message } ... on ValidationError { issues { pointer } } } }`;
const REVOKE_TOKEN = `mutation($input: RevokeTokenInput!) { revokeToken(input: $input) {
  __typename ... on Error { message } ... on ValidationError { issues { pointer } } } }`;
const SET_SCHEMA = `mutation($input: SetConfigSchemaInput!) { setConfigSchema(input: $input) {
  __typename ... on Error { message } ... on ValidationError { issues { pointer } } ... on SecretRejectedError { issues { pointer } } } }`;

const HISTORICAL = 'polygon-historical-downloader';
const LIVE = 'polygon-live-collector';
const TICKS = 'tick-aggregator';

const PEM = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1c7+9z5Pad7OejecsQ0bu3aumMeSoQ2Wd\n-----END RSA PRIVATE KEY-----';
const JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4ifQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c';
const SECRET_ADVICE = /secrets never go in the hub.*environment/;
const NAME_RULE = /service must match/;

const update = (input: Record<string, unknown>): Send => ({ via: 'graphql', query: UPDATE, variables: { input } });
const updateOverWs = (input: Record<string, unknown>): Send => ({ via: 'ws', query: UPDATE, variables: { input } });
const create = (input: Record<string, unknown>): Send => ({ via: 'graphql', query: CREATE, variables: { input } });
const JSON_TYPE = { 'content-type': 'application/json' };
/** POST a raw body to a REST config route. */
const restPost = (service: string, body: string | Uint8Array, query = '', headers: Record<string, string> = JSON_TYPE): Send => ({
  via: 'http',
  method: 'POST',
  path: `/api/v1/config/${service}${query}`,
  body,
  headers,
});
const restPatch = (service: string, patch: unknown, query = '', headers: Record<string, string> = {}) =>
  restPost(service, JSON.stringify(patch), query, { ...JSON_TYPE, ...headers });
/** POST a raw body to /graphql over HTTP. */
const graphqlHttp = (body: string, headers: Record<string, string> = JSON_TYPE): Send => ({ via: 'http', method: 'POST', path: '/graphql', body, headers });

/** `{"a":{"a":...1...}}`, `levels` deep, built as text (JSON.stringify recurses and would overflow). */
const nestedText = (levels: number) => `${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`;
const nestedLiteral = (levels: number) => `${'{ a: '.repeat(levels)}1${' }'.repeat(levels)}`;
const nestedArray = (levels: number): unknown => (levels === 0 ? 1 : [nestedArray(levels - 1)]);
const nestedUnder = (keys: string[], leaf: unknown): unknown => keys.reduceRight<unknown>((inner, key) => ({ [key]: inner }), leaf);
const pointerOf = (levels: number, prefix: string) => prefix + '/a'.repeat(levels);

const DEEP_QUERY = `{ configs { edges { node { history { edges { node { config { history { edges { node { config { history { edges { node { version } } } } } } } } } } } } } } }`;
const ALIASES = `{ ${Array.from({ length: 25 }, (_, i) => `a${i}: config(service: "${TICKS}") { __typename }`).join(' ')} }`;
const TOKEN_FLOOD = `mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 } }) { __typename ${Array.from({ length: 6_000 }, () => '__typename').join(' ')} } }`;
const COSTLY = `{ ${Array.from({ length: 19 }, (_, i) => `c${i}: configs(first: 100) { edges { node { service version config history(first: 100) { edges { node { version action changedBy patch { op path value } } } } } } }`).join(' ')} }`;

// ---------------------------------------------------------------------------------------------------
// The corpus.

const corpus: BadInput[] = [
  // Malformed requests.
  {
    name: 'REST: truncated JSON',
    send: restPost(TICKS, '{"operational": {'),
    expected: { status: 400, code: 'MALFORMED_JSON', message: /not valid JSON/ },
  },
  {
    name: 'REST: bytes that are not UTF-8',
    send: restPost(TICKS, new Uint8Array([0x7b, 0x22, 0x61, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d])),
    expected: { status: 400, code: 'MALFORMED_JSON', message: /not valid JSON/ },
  },
  { name: 'REST: an empty body', send: restPost(TICKS, ''), expected: { status: 400, code: 'MALFORMED_JSON', message: /not valid JSON/ } },
  {
    name: 'REST: two JSON documents in one body',
    send: restPost(TICKS, '{"a": 1} {"b": 2}'),
    expected: { status: 400, code: 'MALFORMED_JSON', message: /not valid JSON/ },
  },
  {
    name: 'REST: JavaScript object syntax instead of JSON',
    send: restPost(TICKS, "{operational: {worker_threads: 8}, note: 'x'}"),
    expected: { status: 400, code: 'MALFORMED_JSON', message: /not valid JSON/ },
  },
  {
    name: 'REST: a form body',
    send: restPost(TICKS, 'operational.worker_threads=8', '', { 'content-type': 'application/x-www-form-urlencoded' }),
    expected: { status: 415, code: 'UNSUPPORTED_MEDIA_TYPE', message: /application\/json/ },
  },
  {
    name: 'GraphQL over HTTP: truncated JSON body',
    send: graphqlHttp('{"query": "mutation { updateConfig('),
    expected: { status: 400, code: 'BAD_REQUEST', message: /invalid JSON/ },
  },
  {
    name: 'GraphQL over HTTP: a body without a query',
    send: graphqlHttp(JSON.stringify({ variables: { input: { service: TICKS, patch: { a: 1 } } } })),
    expected: { code: 'BAD_REQUEST', message: /Must provide query string/ },
  },
  {
    name: 'GraphQL over HTTP: a mutation sent with GET',
    send: { via: 'http', method: 'GET', path: `/graphql?query=${encodeURIComponent(`mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 } }) { __typename } }`)}` },
    expected: { status: 405, code: 'BAD_REQUEST', message: /mutation operation from a POST/ },
  },
  {
    name: 'GraphQL: a document cut short',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 } ` },
    expected: { code: 'GRAPHQL_PARSE_FAILED', message: /Syntax Error/ },
  },
  {
    name: 'WebSocket: a document cut short',
    send: { via: 'ws', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 } ` },
    expected: { code: 'GRAPHQL_PARSE_FAILED', message: /Syntax Error/ },
  },

  // Oversized bodies and documents.
  {
    name: 'REST: a body over 1 MiB',
    send: restPatch(TICKS, { padding: 'x'.repeat(MAX_BODY_BYTES) }),
    expected: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: /1 MiB/ },
  },
  {
    name: 'GraphQL over HTTP: a body over 1 MiB',
    send: graphqlHttp(JSON.stringify({ query: UPDATE, variables: { input: { service: TICKS, patch: { padding: 'x'.repeat(MAX_BODY_BYTES) } } } })),
    expected: { status: 413, code: 'PAYLOAD_TOO_LARGE', message: /1 MiB/ },
  },
  {
    name: 'REST: a patch over 256 KiB (the body under 1 MiB)',
    send: restPatch(TICKS, { operational: { notes: 'n'.repeat(300_000) } }),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: /256 KiB/, pointers: ['/patch'] },
  },
  {
    name: 'GraphQL: a replacement config over 256 KiB',
    send: update({ service: TICKS, config: { symbols: Array.from({ length: 30_000 }, (_, i) => `SYM${i}`) } }),
    expected: { code: 'ValidationError', message: /the limit is 262144/, pointers: ['/config'] },
  },
  {
    name: 'WebSocket: a patch over 256 KiB',
    send: updateOverWs({ service: TICKS, patch: { operational: { notes: 'n'.repeat(300_000) } } }),
    expected: { code: 'ValidationError', message: /256 KiB/, pointers: ['/patch'] },
  },
  {
    name: 'GraphQL: a new config over 256 KiB',
    send: create({ service: 'oversized-service', config: { blob: 'b'.repeat(270_000) } }),
    expected: { code: 'ValidationError', message: /256 KiB/, pointers: ['/config'] },
  },

  // Deeply nested JSON.
  {
    name: 'REST: a patch nested 100,000 levels deep',
    send: restPost(TICKS, nestedText(100_000)),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /nests deeper than 64 levels/ },
  },
  {
    name: 'GraphQL over HTTP: variables nested 100,000 levels deep',
    send: graphqlHttp(`{"query": ${JSON.stringify(UPDATE)}, "variables": {"input": {"service": "${TICKS}", "patch": ${nestedText(100_000)}}}}`),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /nests deeper than 64 levels/ },
  },
  {
    name: 'GraphQL over HTTP: variables nested 40 levels deep (within what a request may nest)',
    send: graphqlHttp(`{"query": ${JSON.stringify(UPDATE)}, "variables": {"input": {"service": "${TICKS}", "patch": ${nestedText(40)}}}}`),
    expected: { status: 200, code: 'ValidationError', message: /deeper than 32 levels/, pointers: [pointerOf(32, '/patch')] },
  },
  {
    name: 'GraphQL: a literal patch nested 40 levels deep in the document',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: ${nestedLiteral(40)} }) { ${WRITE_RESULT} } }` },
    expected: { code: 'ValidationError', message: /deeper than 32 levels/, pointers: [pointerOf(32, '/patch')] },
  },
  {
    name: 'GraphQL: arrays nested 50 levels deep',
    send: update({ service: TICKS, patch: { business: { matrix: nestedArray(50) } } }),
    expected: { code: 'ValidationError', message: /deeper than 32 levels/, pointers: [`/patch/business/matrix${'/0'.repeat(30)}`] },
  },
  {
    name: 'WebSocket: a new config 33 levels deep',
    send: { via: 'ws', query: CREATE, variables: { input: { service: 'deep-service', config: JSON.parse(nestedText(33)) } } },
    expected: { code: 'ValidationError', message: /deeper than 32 levels/, pointers: [pointerOf(32, '/config')] },
  },

  // Wrong types.
  {
    name: 'GraphQL: a replacement config that is an array',
    send: update({ service: TICKS, config: [{ operational: {} }] }),
    expected: { code: 'ValidationError', message: /config must be a JSON object, not an array/, pointers: ['/config'] },
  },
  {
    name: 'GraphQL: a patch that is a string',
    send: update({ service: TICKS, patch: 'operational.worker_threads=8' }),
    expected: { code: 'ValidationError', message: /patch must be a JSON object, not a string/, pointers: ['/patch'] },
  },
  {
    name: 'REST: a patch that is a number (it would replace the whole document)',
    send: restPost(TICKS, '42'),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: /not a number/, pointers: ['/patch'] },
  },
  {
    name: 'WebSocket: a patch that is an array of RFC 6902 operations',
    send: updateOverWs({ service: TICKS, patch: [{ op: 'replace', path: '/operational/worker_threads', value: 8 }] }),
    expected: { code: 'ValidationError', message: /not an array/, pointers: ['/patch'] },
  },
  {
    name: 'GraphQL: both patch and config',
    send: update({ service: TICKS, patch: { a: 1 }, config: { a: 1 } }),
    expected: { code: 'ValidationError', message: /exactly one of patch/, pointers: [''] },
  },
  {
    name: 'GraphQL: neither patch nor config',
    send: update({ service: TICKS, reason: 'nothing' }),
    expected: { code: 'ValidationError', message: /exactly one of patch/, pointers: [''] },
  },
  {
    name: 'GraphQL: expectedVersion as a string variable',
    send: update({ service: TICKS, patch: { a: 1 }, expectedVersion: '1' }),
    expected: { code: 'BAD_USER_INPUT', message: /expectedVersion.*Int cannot represent non-integer value/ },
  },
  {
    name: 'GraphQL: expectedVersion as a string literal',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 }, expectedVersion: "1" }) { __typename } }` },
    expected: { code: 'GRAPHQL_VALIDATION_FAILED', message: /Int cannot represent non-integer value: "1"/ },
  },
  {
    name: 'GraphQL: expectedVersion beyond 32 bits',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { a: 1 }, expectedVersion: 3000000000 }) { __typename } }` },
    expected: { code: 'GRAPHQL_VALIDATION_FAILED', message: /non 32-bit signed integer/ },
  },
  {
    name: 'GraphQL: a service name that is a number',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: 42, patch: { a: 1 } }) { __typename } }` },
    expected: { code: 'GRAPHQL_VALIDATION_FAILED', message: /String cannot represent a non string value/ },
  },
  {
    name: 'WebSocket: expectedVersion as a string variable',
    send: updateOverWs({ service: TICKS, patch: { a: 1 }, expectedVersion: '1' }),
    expected: { code: 'BAD_USER_INPUT', message: /expectedVersion.*Int cannot represent non-integer value/ },
  },
  {
    name: 'GraphQL: dryRun as a string',
    send: update({ service: TICKS, patch: { a: 1 }, dryRun: 'yes' }),
    expected: { code: 'BAD_USER_INPUT', message: /dryRun.*Boolean cannot represent a non boolean value/ },
  },
  {
    name: 'REST: ?expectedVersion= that is not a number',
    send: restPatch(TICKS, { a: 1 }, '?expectedVersion=one'),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /expectedVersion must be a whole number/ },
  },
  {
    name: 'REST: If-Match that is not a version',
    send: restPatch(TICKS, { a: 1 }, '', { 'if-match': 'W/"v2-abc"' }),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /If-Match must be a version/ },
  },
  {
    name: 'GraphQL: a schema that is not a JSON Schema',
    send: { via: 'graphql', query: SET_SCHEMA, variables: { input: { service: TICKS, schema: { type: 'dictionary' } } } },
    expected: { code: 'ValidationError', message: /not a valid JSON Schema/, pointers: ['/schema'] },
  },
  {
    name: 'GraphQL: a schema that is an array',
    send: { via: 'graphql', query: SET_SCHEMA, variables: { input: { service: TICKS, schema: [{ type: 'object' }] } } },
    expected: { code: 'ValidationError', message: /schema must be a JSON object/, pointers: ['/schema'] },
  },

  // Secrets in many disguises (keys and values); every pointer is reported, with advice.
  {
    name: 'REST: DB_PASSWORD in upper snake case',
    send: restPatch(TICKS, { operational: { DB_PASSWORD: 'hunter2' } }),
    expected: { status: 422, code: 'SECRET_REJECTED', message: SECRET_ADVICE, pointers: ['/config/operational/DB_PASSWORD'] },
  },
  {
    name: 'GraphQL: apiKey in camel case',
    send: update({ service: TICKS, patch: { polygon: { apiKey: 'abc123' } } }),
    expected: { code: 'SecretRejectedError', message: /names a secret \(apikey\)/, pointers: ['/config/polygon/apiKey'] },
  },
  {
    name: 'WebSocket: private-key in kebab case',
    send: updateOverWs({ service: TICKS, patch: { tls: { 'private-key': 'abc' } } }),
    expected: { code: 'SecretRejectedError', message: /privatekey/, pointers: ['/config/tls/private-key'] },
  },
  {
    name: 'GraphQL: client_secret nested eight levels deep',
    send: update({ service: TICKS, patch: nestedUnder(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'client_secret'], 'xyz') as object }),
    expected: { code: 'SecretRejectedError', message: /the key "client_secret" names a secret/, pointers: ['/config/a/b/c/d/e/f/g/client_secret'] },
  },
  {
    name: 'GraphQL: Auth_Token inside an array of objects',
    send: update({ service: TICKS, patch: { business: { brokers: [{ host: 'a' }, { host: 'b', Auth_Token: 't0k3n' }] } } }),
    expected: { code: 'SecretRejectedError', message: /the key "Auth_Token" names a secret/, pointers: ['/config/business/brokers/1/Auth_Token'] },
  },
  {
    name: 'REST: a PEM private key under an innocent name',
    send: restPatch(TICKS, { operational: { tls_material: PEM } }),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /a PEM block/, pointers: ['/config/operational/tls_material'] },
  },
  {
    name: 'GraphQL: a broker URL with user:password',
    send: update({ service: LIVE, patch: { business: { broker: 'amqp://collector:Tr0ub4dor@rabbit.internal:5672/ticks' } } }),
    expected: { code: 'SecretRejectedError', message: /URL with a user name and password/, pointers: ['/config/business/broker'] },
  },
  {
    name: 'WebSocket: an AWS access key id',
    send: updateOverWs({ service: TICKS, patch: { archive: { bucket: 'ticks', id: 'AKIAIOSFODNN7EXAMPLE' } } }),
    expected: { code: 'SecretRejectedError', message: /AWS access key/, pointers: ['/config/archive/id'] },
  },
  {
    name: 'GraphQL: a GitHub token in a list',
    send: update({ service: TICKS, patch: { business: { sources: ['git', `ghp_${'aB3'.repeat(12)}`] } } }),
    expected: { code: 'SecretRejectedError', message: /GitHub token/, pointers: ['/config/business/sources/1'] },
  },
  {
    name: 'REST: a Slack token',
    send: restPatch(LIVE, { alerts: { channel: '#ticks', hook: 'xoxb-1234567890-abcdefghij' } }),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /Slack token/, pointers: ['/config/alerts/hook'] },
  },
  {
    name: 'GraphQL: a JSON Web Token',
    send: update({ service: TICKS, patch: { upstream: { header: JWT } } }),
    expected: { code: 'SecretRejectedError', message: /JSON Web Token/, pointers: ['/config/upstream/header'] },
  },
  {
    name: 'GraphQL: a Stripe key',
    send: update({ service: TICKS, patch: { billing: `sk_live_${'a1B2'.repeat(6)}` } }),
    expected: { code: 'SecretRejectedError', message: /Stripe key/, pointers: ['/config/billing'] },
  },
  {
    name: 'GraphQL: a Google API key',
    send: update({ service: TICKS, patch: { maps: `AIzaSy${'D'.repeat(33)}` } }),
    expected: { code: 'SecretRejectedError', message: /Google API key/, pointers: ['/config/maps'] },
  },
  {
    name: 'REST: an HTTP bearer credential',
    send: restPatch(TICKS, { upstream: { authorization: `Bearer ${'q'.repeat(40)}` } }),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /HTTP authorization credential/, pointers: ['/config/upstream/authorization'] },
  },
  {
    name: 'GraphQL: an API secret key (sk-proj-)',
    send: update({ service: TICKS, patch: { llm: { model: 'x', key_material: `sk-proj-${'Z9'.repeat(20)}` } } }),
    expected: { code: 'SecretRejectedError', message: /API secret key/, pointers: ['/config/llm/key_material'] },
  },
  {
    name: 'GraphQL: a credentials object',
    send: update({ service: TICKS, patch: { credentials: { user: 'svc', region: 'eu' } } }),
    expected: { code: 'SecretRejectedError', message: /credentials/, pointers: ['/config/credentials'] },
  },
  {
    name: 'REST: x-api-key as a header-style key',
    send: restPatch(TICKS, { upstream: { 'x-api-key': 'abc' } }),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /apikey/, pointers: ['/config/upstream/x-api-key'] },
  },
  {
    name: 'GraphQL: a key with a slash, db/password (pointer escaped)',
    send: update({ service: TICKS, patch: { 'db/password': 'x' } }),
    expected: { code: 'SecretRejectedError', message: /password/, pointers: ['/config/db~1password'] },
  },
  {
    name: 'REST: a duplicated JSON key whose last value hides a secret',
    send: restPost(TICKS, '{"note": "harmless", "note": {"passwd": "hunter2"}}'),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /passwd/, pointers: ['/config/note/passwd'] },
  },
  {
    name: 'GraphQL: three secrets at once, every pointer listed',
    send: update({ service: TICKS, patch: { PASSWORD: 'a', kafka: { 'sasl.jaas.passphrase': 'b' }, sentry: { dsn: 'https://k@o.ingest/1' } } }),
    expected: { code: 'SecretRejectedError', message: SECRET_ADVICE, pointers: ['/config/PASSWORD', '/config/kafka/sasl.jaas.passphrase', '/config/sentry/dsn'] },
  },
  {
    name: 'GraphQL: a secret in a full replacement',
    send: update({ service: TICKS, config: { operational: { worker_threads: 4 }, db: { SessionToken: 'abc' } } }),
    expected: { code: 'SecretRejectedError', message: /token/, pointers: ['/config/db/SessionToken'] },
  },
  {
    name: 'GraphQL: a secret in a dry run',
    send: update({ service: TICKS, patch: { smtp_password: 'x' }, dryRun: true }),
    expected: { code: 'SecretRejectedError', message: /password/, pointers: ['/config/smtp_password'] },
  },
  {
    name: 'GraphQL: a secret in a new config',
    send: create({ service: 'leaky-service', config: { nested: { refreshToken: 'r' } } }),
    expected: { code: 'SecretRejectedError', message: /refreshtoken/, pointers: ['/config/nested/refreshToken'] },
  },

  // Schema violations (the pilot services' seed schemas).
  {
    name: 'GraphQL: three violations of the downloader schema, every pointer listed',
    send: update({ service: HISTORICAL, patch: { operational: { batch_size: 'big', gap_check_interval_hours: -1 }, features: { enable_gap_filling: 'yes' } } }),
    expected: {
      code: 'ValidationError',
      message: /must be integer/,
      pointers: ['/config/operational/batch_size', '/config/operational/gap_check_interval_hours', '/config/features/enable_gap_filling'],
    },
  },
  {
    name: 'REST: removing a required section',
    send: restPatch(HISTORICAL, { operational: null }),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: /required property 'operational'/, pointers: ['/config/operational'] },
  },
  {
    name: 'WebSocket: a lower-case symbol the collector schema forbids',
    send: updateOverWs({ service: LIVE, patch: { business: { subscribed_symbols: ['spy'] } } }),
    expected: { code: 'ValidationError', message: /must match pattern/, pointers: ['/config/business/subscribed_symbols/0'] },
  },
  {
    name: 'GraphQL: a value outside an enum',
    send: update({ service: HISTORICAL, patch: { business: { symbols_universe: 'ftse100' } } }),
    expected: { code: 'ValidationError', message: /allowed values/, pointers: ['/config/business/symbols_universe'] },
  },
  {
    name: 'GraphQL: an empty list where at least one item is required',
    send: update({ service: TICKS, patch: { business: { bar_intervals: [] } } }),
    expected: { code: 'ValidationError', message: /fewer than 1 items/, pointers: ['/config/business/bar_intervals'] },
  },
  {
    name: 'GraphQL: a replacement that breaks a maximum',
    send: update({ service: TICKS, config: { operational: { worker_threads: 1000 } } }),
    expected: { code: 'ValidationError', message: /must be <= 64/, pointers: ['/config/operational/worker_threads'] },
  },
  {
    name: 'GraphQL: a feature flag that is not a boolean',
    send: update({ service: LIVE, patch: { features: { enable_new_parser: 'on' } } }),
    expected: { code: 'ValidationError', message: /must be boolean/, pointers: ['/config/features/enable_new_parser'] },
  },
  {
    name: 'GraphQL: a schema the live config breaks',
    send: {
      via: 'graphql',
      query: SET_SCHEMA,
      variables: { input: { service: TICKS, schema: { type: 'object', properties: { operational: { type: 'object', properties: { worker_threads: { type: 'integer', maximum: 2 } } } } } } },
    },
    expected: { code: 'ValidationError', message: /breaks it/, pointers: ['/operational/worker_threads'] },
  },

  // Injection-shaped and otherwise invalid names.
  {
    name: "GraphQL: a service named '; DROP TABLE service_configs; --",
    send: update({ service: "'; DROP TABLE service_configs; --", patch: { a: 1 } }),
    expected: { code: 'ValidationError', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'GraphQL: creating a service named robert\'); DROP TABLE config_audit_log;--',
    send: create({ service: "robert'); DROP TABLE config_audit_log;--", config: { a: 1 } }),
    expected: { code: 'ValidationError', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'REST: a service ../../etc/passwd in the path',
    send: restPatch('..%2F..%2Fetc%2Fpasswd', { a: 1 }),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'REST: a service name with a non-ASCII letter',
    send: restPatch(encodeURIComponent('tick-aggregatör'), { a: 1 }),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'GraphQL: creating a service with a 129-character name',
    send: create({ service: `s${'x'.repeat(128)}`, config: { a: 1 } }),
    expected: { code: 'ValidationError', message: /at most 128 characters/, pointers: ['/service'] },
  },
  {
    name: 'GraphQL: an upper-case service name',
    send: update({ service: 'Tick-Aggregator', patch: { a: 1 } }),
    expected: { code: 'ValidationError', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'GraphQL: creating a service whose name ends in a NUL byte',
    send: create({ service: `${TICKS}-2\u0000`, config: { a: 1 } }),
    expected: { code: 'ValidationError', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'GraphQL: an empty service name',
    send: create({ service: '', config: { a: 1 } }),
    expected: { code: 'ValidationError', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: "GraphQL: an environment named production' OR '1'='1",
    send: update({ service: TICKS, environment: "production' OR '1'='1", patch: { a: 1 } }),
    expected: { code: 'ValidationError', message: /environment must match/, pointers: ['/environment'] },
  },
  {
    name: 'REST: ?environment=../production',
    send: restPatch(TICKS, { a: 1 }, `?environment=${encodeURIComponent('../production')}`),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /^environment must match/ },
  },
  {
    name: 'WebSocket: a subscription to a service named with SQL',
    send: { via: 'ws', query: `subscription { configChanged(service: "x'); DELETE FROM config_audit_log; --") { version } }` },
    expected: { code: 'VALIDATION_FAILED', message: NAME_RULE, pointers: ['/service'] },
  },
  {
    name: 'WebSocket: a subscription to an environment with an emoji',
    send: { via: 'ws', query: `subscription { configChanged(service: "${TICKS}", environment: "prod🔥") { version } }` },
    expected: { code: 'VALIDATION_FAILED', message: /environment must match/, pointers: ['/environment'] },
  },

  // Stale versions and things that do not exist.
  {
    name: 'GraphQL: a stale expectedVersion',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 8 } }, expectedVersion: 0 }),
    expected: { code: 'VersionConflictError', message: /is at version 1, not 0/ },
  },
  {
    name: 'REST: If-Match with a version from the future',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }, '', { 'if-match': '"7"' }),
    expected: { status: 409, code: 'VERSION_CONFLICT', message: /is at version 1, not 7/ },
  },
  {
    name: 'WebSocket: a rollback with a stale expectedVersion',
    send: { via: 'ws', query: ROLLBACK, variables: { input: { service: TICKS, toVersion: 1, expectedVersion: 5 } } },
    expected: { code: 'VersionConflictError', message: /is at version 1, not 5/ },
  },
  {
    name: 'GraphQL: a schema with a stale expectedVersion',
    send: { via: 'graphql', query: SET_SCHEMA, variables: { input: { service: TICKS, schema: { type: 'object' }, expectedVersion: 0 } } },
    expected: { code: 'VersionConflictError', message: /not 0/ },
  },
  {
    name: 'GraphQL: updating an unknown service',
    send: update({ service: 'no-such-service', patch: { a: 1 } }),
    expected: { code: 'NotFoundError', message: /no config for service "no-such-service"/ },
  },
  {
    name: 'REST: POST to an unknown service',
    send: restPatch('no-such-service', { a: 1 }),
    expected: { status: 404, code: 'NOT_FOUND', message: /no config for service "no-such-service"/ },
  },
  {
    name: 'GraphQL: a known service in an unknown environment',
    send: update({ service: TICKS, environment: 'staging', patch: { a: 1 } }),
    expected: { code: 'NotFoundError', message: /in environment "staging"/ },
  },
  {
    name: 'GraphQL: a rollback to a version that never was',
    send: { via: 'graphql', query: ROLLBACK, variables: { input: { service: TICKS, toVersion: 99 } } },
    expected: { code: 'NotFoundError', message: /has no version 99/ },
  },
  {
    name: 'GraphQL: a rollback to version -1',
    send: { via: 'graphql', query: ROLLBACK, variables: { input: { service: TICKS, toVersion: -1 } } },
    expected: { code: 'NotFoundError', message: /has no version -1/ },
  },
  {
    name: 'GraphQL: deleting an unknown service',
    send: { via: 'graphql', query: `mutation { deleteConfig(input: { service: "no-such-service" }) { ${WRITE_RESULT} } }` },
    expected: { code: 'NotFoundError', message: /no config for service/ },
  },
  {
    name: 'GraphQL: restoring a config that is not deleted',
    send: { via: 'graphql', query: `mutation { restoreConfig(input: { service: "${TICKS}" }) { ${WRITE_RESULT} } }` },
    expected: { code: 'NotFoundError', message: /is not deleted/ },
  },
  {
    name: 'GraphQL: creating a config that exists',
    send: create({ service: TICKS, config: { operational: { worker_threads: 2 } } }),
    expected: { code: 'AlreadyExistsError', message: /already exists/ },
  },

  // Documents built to exhaust the hub (graphql-armor), over each transport.
  { name: 'GraphQL: a query nested deeper than 12 levels', send: { via: 'graphql', query: DEEP_QUERY }, expected: { code: 'QUERY_TOO_COMPLEX', message: /depth limit of 12/ } },
  { name: 'GraphQL: 25 aliases', send: { via: 'graphql', query: ALIASES }, expected: { code: 'QUERY_TOO_COMPLEX', message: /Aliases limit of 20/ } },
  {
    name: 'GraphQL over HTTP: a mutation with over 2,000 tokens',
    send: graphqlHttp(JSON.stringify({ query: TOKEN_FLOOD })),
    expected: { code: 'QUERY_TOO_COMPLEX', message: /Token limit of 2000/ },
  },
  { name: 'GraphQL: a query whose cost passes 5,000', send: { via: 'graphql', query: COSTLY }, expected: { code: 'QUERY_TOO_COMPLEX', message: /Query Cost limit of 5000/ } },
  {
    name: 'WebSocket: a query nested deeper than 12 levels',
    send: { via: 'ws', query: DEEP_QUERY },
    expected: { code: 'QUERY_TOO_COMPLEX', message: /depth limit of 12/ },
  },
  {
    name: 'WebSocket: 25 aliases',
    send: { via: 'ws', query: ALIASES },
    expected: { code: 'QUERY_TOO_COMPLEX', message: /Aliases limit of 20/ },
  },
  {
    name: 'WebSocket: a mutation with over 2,000 tokens',
    send: { via: 'ws', query: TOKEN_FLOOD },
    expected: { code: 'QUERY_TOO_COMPLEX', message: /Token limit of 2000/ },
  },

  // Characters PostgreSQL's jsonb cannot hold.
  {
    name: 'GraphQL: a string value holding a NUL character',
    send: update({ service: TICKS, patch: { operational: { notes: 'before\u0000after' } } }),
    expected: { code: 'ValidationError', message: /./, pointers: ['/patch/operational/notes'] },
  },
  {
    name: 'REST: an escaped NUL (\\u0000) in a value',
    send: restPost(TICKS, '{"operational": {"notes": "x\\u0000y"}}'),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: /./, pointers: ['/patch/operational/notes'] },
  },
  {
    name: 'GraphQL: a key holding a NUL character',
    send: update({ service: TICKS, patch: { 'worker\u0000threads': 1 } }),
    expected: { code: 'ValidationError', message: /./, pointers: ['/patch/worker\u0000threads'] },
  },
  {
    name: 'WebSocket: a lone UTF-16 surrogate in a value',
    send: updateOverWs({ service: TICKS, patch: { operational: { notes: 'half \ud800 a pair' } } }),
    expected: { code: 'ValidationError', message: /./, pointers: ['/patch/operational/notes'] },
  },
  {
    name: 'GraphQL over HTTP: a text/plain POST (a CSRF-style simple request)',
    send: graphqlHttp(JSON.stringify({ query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { csrf: 1 } }) { __typename } }` }), { 'content-type': 'text/plain' }),
    expected: { status: 415, code: /.*/, message: /.*/ },
  },

  // Authentication: no token, a credential that is not a bearer token, and tokens the hub does not
  // accept (never issued, expired, revoked): 401 over HTTP, a close (4401) over WebSocket.
  {
    name: 'REST: a write without a token',
    as: 'none',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /Authorization: Bearer/ },
  },
  {
    name: 'REST: a Basic credential instead of a bearer token',
    as: 'basic',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /Bearer/ },
  },
  {
    name: 'REST: a token the hub never issued',
    as: 'unknown',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /unknown token/ },
  },
  {
    name: 'REST: an expired token',
    as: 'expired',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /token "corpus-expired" expired at/ },
  },
  {
    name: 'REST: a revoked token',
    as: 'revoked',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /token "corpus-revoked" was revoked/ },
  },
  {
    name: 'GraphQL: a mutation without a token',
    as: 'none',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 8 } } }),
    expected: { code: 'UnauthenticatedError', message: /Authorization: Bearer/ },
  },
  {
    name: 'GraphQL: a secret sent without a token (refused as unauthenticated, before its content is looked at)',
    as: 'none',
    send: update({ service: TICKS, patch: { db_password: 'hunter2' } }),
    expected: { code: 'UnauthenticatedError', message: /Authorization: Bearer/ },
  },
  {
    name: 'GraphQL over HTTP: an expired token',
    as: 'expired',
    send: graphqlHttp(JSON.stringify({ query: UPDATE, variables: { input: { service: TICKS, patch: { a: 1 } } } })),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /expired at/ },
  },
  {
    name: 'GraphQL over HTTP: a revoked token',
    as: 'revoked',
    send: graphqlHttp(JSON.stringify({ query: UPDATE, variables: { input: { service: TICKS, patch: { a: 1 } } } })),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /was revoked/ },
  },
  {
    name: 'GraphQL over HTTP: a Basic credential',
    as: 'basic',
    send: graphqlHttp(JSON.stringify({ query: UPDATE, variables: { input: { service: TICKS, patch: { a: 1 } } } })),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /Bearer/ },
  },
  {
    name: 'WebSocket: a mutation on a socket without a token',
    as: 'none',
    send: updateOverWs({ service: TICKS, patch: { a: 1 } }),
    expected: { code: 'UnauthenticatedError', message: /Authorization: Bearer/ },
  },
  {
    name: 'WebSocket: a revoked token',
    as: 'revoked',
    send: updateOverWs({ service: TICKS, patch: { a: 1 } }),
    expected: { code: 'CLOSED 4401', message: /was revoked/ },
  },
  {
    name: 'WebSocket: an expired token',
    as: 'expired',
    send: { via: 'ws', query: `subscription { configChanged(service: "${TICKS}", afterVersion: 0) { version } }` },
    expected: { code: 'CLOSED 4401', message: /expired at/ },
  },
  {
    name: 'WebSocket: a Basic credential',
    as: 'basic',
    send: updateOverWs({ service: TICKS, patch: { a: 1 } }),
    expected: { code: 'CLOSED 4401', message: /Bearer/ },
  },

  {
    name: 'REST: the admin token in the query string instead of the header',
    as: 'none',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }, `?access_token=${TEST_ADMIN_TOKEN}`),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /^access_token: not a parameter of this route/ },
  },
  {
    name: 'REST: the admin token with one character more',
    as: 'none',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }, '', { authorization: `Bearer ${TEST_ADMIN_TOKEN}x` }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /unknown token/ },
  },
  {
    name: 'GraphQL over HTTP: two tokens in one Authorization header',
    as: 'none',
    send: graphqlHttp(JSON.stringify({ query: UPDATE, variables: { input: { service: TICKS, patch: { a: 1 } } } }), {
      ...JSON_TYPE,
      authorization: `Bearer ${TEST_ADMIN_TOKEN}, Bearer chub_${'B'.repeat(43)}`,
    }),
    expected: { status: 401, code: 'UNAUTHENTICATED', message: /Bearer/ },
  },
  {
    name: 'WebSocket: the admin token under a connectionParams key the hub does not read',
    send: { ...updateOverWs({ service: TICKS, patch: { a: 1 } }), connectionParams: { token: TEST_ADMIN_TOKEN } } as Send,
    expected: { code: 'UnauthenticatedError', message: /Authorization: Bearer/ },
  },

  // Authorization: valid tokens whose role or scope does not cover the request (403, ForbiddenError).
  {
    name: 'REST: a reader writing',
    as: 'reader',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 403, code: 'FORBIDDEN', message: /may not write config "tick-aggregator"/ },
  },
  {
    name: 'REST: an editor of polygon-* writing tick-aggregator',
    as: 'polygonEditor',
    send: restPatch(TICKS, { operational: { worker_threads: 8 } }),
    expected: { status: 403, code: 'FORBIDDEN', message: /token "corpus-polygon-editor".*may not write config "tick-aggregator"/ },
  },
  {
    name: 'REST: an editor of staging writing production',
    as: 'stagingEditor',
    send: restPatch(LIVE, { operational: { write_batch_size: 10 } }),
    expected: { status: 403, code: 'FORBIDDEN', message: /may not write config "polygon-live-collector" in "production"/ },
  },
  {
    name: 'REST: a reader of one service reading the history of another',
    as: 'liveReader',
    send: { via: 'http', method: 'GET', path: `/api/v1/config/history/${TICKS}` },
    expected: { status: 403, code: 'FORBIDDEN', message: /may not read config "tick-aggregator"/ },
  },
  {
    name: 'GraphQL: a reader updating',
    as: 'reader',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 8 } } }),
    expected: { code: 'ForbiddenError', message: /may not write config "tick-aggregator"/ },
  },
  {
    name: 'GraphQL: an editor of polygon-* rolling back tick-aggregator',
    as: 'polygonEditor',
    send: { via: 'graphql', query: ROLLBACK, variables: { input: { service: TICKS, toVersion: 1 } } },
    expected: { code: 'ForbiddenError', message: /may not write config "tick-aggregator"/ },
  },
  {
    name: 'GraphQL: an editor of staging creating a production config',
    as: 'stagingEditor',
    send: create({ service: 'staging-only', config: { a: 1 } }),
    expected: { code: 'ForbiddenError', message: /may not write config "staging-only" in "production"/ },
  },
  {
    name: 'GraphQL: an editor setting a schema',
    as: 'editor',
    send: { via: 'graphql', query: SET_SCHEMA, variables: { input: { service: TICKS, schema: { type: 'object' } } } },
    expected: { code: 'ForbiddenError', message: /may not set the schema of "tick-aggregator"/ },
  },
  {
    name: 'GraphQL: an editor creating an admin token',
    as: 'editor',
    send: { via: 'graphql', query: CREATE_TOKEN, variables: { input: { name: 'escalation', role: 'ADMIN' } } },
    expected: { code: 'ForbiddenError', message: /may not manage tokens/ },
  },
  {
    name: 'GraphQL: an editor revoking the admin token',
    as: 'editor',
    send: { via: 'graphql', query: REVOKE_TOKEN, variables: { input: { name: 'admin' } } },
    expected: { code: 'ForbiddenError', message: /may not manage tokens/ },
  },
  {
    name: 'GraphQL: a reader of one service reading another',
    as: 'liveReader',
    send: { via: 'graphql', query: `{ config(service: "${TICKS}") { __typename ... on Error { message } } }` },
    expected: { code: 'ForbiddenError', message: /may not read config "tick-aggregator"/ },
  },
  {
    name: 'WebSocket: a subscription outside the token\'s scope',
    as: 'liveReader',
    send: { via: 'ws', query: `subscription { configChanged(service: "${TICKS}", afterVersion: 0) { version } }` },
    expected: { code: 'FORBIDDEN', message: /may not read config "tick-aggregator"/ },
  },
  {
    name: 'WebSocket: a reader updating',
    as: 'reader',
    send: updateOverWs({ service: LIVE, patch: { operational: { write_batch_size: 10 } } }),
    expected: { code: 'ForbiddenError', message: /may not write config "polygon-live-collector"/ },
  },

  // Bad token management input (an admin): nothing reaches api_tokens.
  {
    name: 'GraphQL: a token with an invalid name, no services and a bad environment',
    send: { via: 'graphql', query: CREATE_TOKEN, variables: { input: { name: "Robert'); DROP TABLE api_tokens;--", role: 'EDITOR', services: [], environments: ['Prod EU'] } } },
    expected: { code: 'ValidationError', message: /name must match/, pointers: ['/name', '/services', '/environments/0'] },
  },
  {
    name: 'GraphQL: a token that expired before it was made',
    send: { via: 'graphql', query: CREATE_TOKEN, variables: { input: { name: 'born-expired', role: 'READER', expiresAt: '2020-01-01T00:00:00Z' } } },
    expected: { code: 'ValidationError', message: /must be in the future/, pointers: ['/expiresAt'] },
  },
  {
    name: 'GraphQL: a token with a role that does not exist',
    send: { via: 'graphql', query: CREATE_TOKEN, variables: { input: { name: 'root-token', role: 'ROOT' } } },
    expected: { code: 'BAD_USER_INPUT', message: /Value "ROOT" does not exist in "Role" enum/ },
  },
  {
    name: 'GraphQL: a token whose name is taken',
    send: { via: 'graphql', query: CREATE_TOKEN, variables: { input: { name: 'corpus-revoked', role: 'READER' } } },
    expected: { code: 'ValidationError', message: /a token named "corpus-revoked" exists/, pointers: ['/name'] },
  },
  {
    name: 'GraphQL: revoking a token that does not exist',
    send: { via: 'graphql', query: REVOKE_TOKEN, variables: { input: { name: 'no-such-token' } } },
    expected: { code: 'ValidationError', message: /no token named "no-such-token"/, pointers: ['/name'] },
  },

  // Found by a hostile review (issue 15): texts the hub would keep, numbers it would change, literals and
  // bodies built to hold the event loop or blow the stack, errors without a code, parameters read loosely.
  {
    name: 'GraphQL: a reason with a NUL character',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 9 } }, reason: 'a\u0000b' }),
    expected: { code: 'ValidationError', message: /NUL/, pointers: ['/reason'] },
  },
  {
    name: 'GraphQL: a description with a lone surrogate',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 9 } }, description: 'tick \ud800 aggregator' }),
    expected: { code: 'ValidationError', message: /lone UTF-16 surrogate/, pointers: ['/description'] },
  },
  {
    name: 'GraphQL: a reason over 1 KiB',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 9 } }, reason: 'r'.repeat(1025) }),
    expected: { code: 'ValidationError', message: /limit is 1024/, pointers: ['/reason'] },
  },
  {
    name: 'GraphQL: a description over 4 KiB, and a reason with a NUL, at once',
    send: create({ service: 'texts-refused', config: { a: 1 }, description: 'd'.repeat(4097), reason: '\u0000' }),
    expected: { code: 'ValidationError', message: /limit is 4096/, pointers: ['/description', '/reason'] },
  },
  {
    name: 'GraphQL: a rollback whose reason is 900 KB',
    send: { via: 'graphql', query: ROLLBACK, variables: { input: { service: TICKS, toVersion: 1, reason: 'x'.repeat(900_000) } } },
    expected: { code: 'ValidationError', message: /limit is 1024/, pointers: ['/reason'] },
  },
  {
    name: 'WebSocket: a reason with a NUL character',
    send: updateOverWs({ service: TICKS, patch: { operational: { worker_threads: 9 } }, reason: 'a\u0000b' }),
    expected: { code: 'ValidationError', message: /NUL/, pointers: ['/reason'] },
  },
  {
    name: 'REST: ?reason= with a NUL character',
    send: restPatch(TICKS, { operational: { worker_threads: 9 } }, '?reason=a%00b'),
    expected: { status: 422, code: 'VALIDATION_FAILED', message: /NUL/, pointers: ['/reason'] },
  },
  {
    name: "GraphQL: an instance's error with a NUL character, by a reader",
    as: 'reader',
    send: {
      via: 'graphql',
      query: `mutation($input: ReportInstanceInput!) { reportInstance(input: $input) { __typename ... on Error { message } ... on ValidationError { issues { pointer } } } }`,
      variables: { input: { service: TICKS, instance: 'host-1', status: 'ERROR', error: 'boom\u0000' } },
    },
    expected: { code: 'ValidationError', message: /NUL/, pointers: ['/error'] },
  },
  {
    name: "GraphQL: an instance's error over 2 KiB",
    as: 'reader',
    send: {
      via: 'graphql',
      query: `mutation($input: ReportInstanceInput!) { reportInstance(input: $input) { __typename ... on Error { message } ... on ValidationError { issues { pointer } } } }`,
      variables: { input: { service: TICKS, instance: 'host-1', status: 'ERROR', error: 'e'.repeat(3000) } },
    },
    expected: { code: 'ValidationError', message: /limit is 2048/, pointers: ['/error'] },
  },
  {
    name: 'GraphQL: a reason holding a database URL with its password',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 9 } }, reason: 'moved to postgres://app:hunter2secret@db.internal:5432/ticks' }),
    expected: { code: 'SecretRejectedError', message: /URL with a user name and password/, pointers: ['/reason'] },
  },
  {
    name: 'GraphQL: a description holding a JSON Web Token',
    send: update({ service: TICKS, patch: { operational: { worker_threads: 9 } }, description: `call with ${JWT}` }),
    expected: { code: 'SecretRejectedError', message: /JSON Web Token/, pointers: ['/description'] },
  },
  {
    name: 'REST: ?reason= holding a GitHub token',
    send: restPatch(TICKS, { operational: { worker_threads: 9 } }, `?reason=${encodeURIComponent('rotated ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789 today')}`),
    expected: { status: 422, code: 'SECRET_REJECTED', message: /GitHub token/, pointers: ['/reason'] },
  },
  {
    name: "GraphQL: an instance's error holding a password assignment, by a reader",
    as: 'reader',
    send: {
      via: 'graphql',
      query: `mutation($input: ReportInstanceInput!) { reportInstance(input: $input) { __typename ... on Error { message } ... on SecretRejectedError { issues { pointer } } } }`,
      variables: { input: { service: TICKS, instance: 'host-1', status: 'ERROR', error: 'connect failed: host=db user=app password=Zq8wXv2mPk4 dbname=ticks' } },
    },
    expected: { code: 'SecretRejectedError', message: /password/, pointers: ['/error'] },
  },
  {
    name: 'GraphQL: a schema whose default and examples are secrets',
    send: {
      via: 'graphql',
      query: SET_SCHEMA,
      variables: {
        input: {
          service: TICKS,
          schema: {
            type: 'object',
            properties: {
              api_key: { type: 'string', default: 'sk_live_4eC39HqLyjWDarjtT1zdp7dc' },
              upstream: { type: 'string', examples: ['https://api.example.com', 'postgres://app:hunter2secret@db:5432/ticks'] },
            },
          },
        },
      },
    },
    expected: { code: 'SecretRejectedError', message: /secret|Stripe|password/, pointers: ['/schema/properties/api_key/default', '/schema/properties/upstream/examples/1'] },
  },
  {
    name: 'GraphQL over HTTP: a variable number with more digits than a double keeps',
    send: graphqlHttp(`{"query": ${JSON.stringify(UPDATE)}, "variables": {"input": {"service": "${TICKS}", "patch": {"operational": {"max_id": 12345678901234567890}}}}}`),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /12345678901234567890 cannot be kept exactly/ },
  },
  {
    name: 'GraphQL over HTTP: a variable number too small for a double (1e-400 would be 0)',
    send: graphqlHttp(`{"query": ${JSON.stringify(CREATE)}, "variables": {"input": {"service": "tiny-numbers", "config": {"epsilon": 1e-400}}}}`),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /1e-400 cannot be kept exactly/ },
  },
  {
    name: 'GraphQL: a literal number too large for a double (1e400 would be null)',
    send: { via: 'graphql', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { operational: { ceiling: 1e400 } } }) { ${WRITE_RESULT} } }` },
    expected: { code: 'GRAPHQL_VALIDATION_FAILED', message: /1e400 cannot be kept exactly/ },
  },
  {
    name: 'GraphQL: a literal integer past 2^53 inside a list',
    send: { via: 'graphql', query: `mutation { createConfig(input: { service: "big-ids", config: { ids: [1, 9007199254740993] } }) { ${WRITE_RESULT} } }` },
    expected: { code: 'GRAPHQL_VALIDATION_FAILED', message: /9007199254740993 cannot be kept exactly/ },
  },
  {
    name: 'REST: a body with a number too small for a double',
    send: restPost(TICKS, '{"operational": {"epsilon": 1e-400}}'),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /1e-400 cannot be kept exactly/ },
  },
  {
    name: 'WebSocket: a variable number with more digits than a double keeps',
    send: {
      via: 'ws-raw',
      message: `{"id":"1","type":"subscribe","payload":{"query":${JSON.stringify(UPDATE)},"variables":{"input":{"service":"${TICKS}","patch":{"operational":{"max_id":12345678901234567890}}}}}}`,
    },
    expected: { code: 'BAD_USER_INPUT', message: /12345678901234567890 cannot be kept exactly/ },
  },
  {
    name: 'WebSocket: an anonymous literal nested 2,000 levels deep',
    as: 'none',
    send: { via: 'ws', query: `mutation { updateConfig(input: { service: "${TICKS}", patch: { x: ${'['.repeat(2000)}1${']'.repeat(2000)} } }) { __typename } }` },
    expected: { code: 'QUERY_TOO_COMPLEX', message: /nests deeper than 64 levels/ },
  },
  {
    name: 'GraphQL over HTTP: an anonymous literal nested 2,000 levels deep',
    as: 'none',
    send: graphqlHttp(JSON.stringify({ query: `mutation { updateConfig(input: { service: "${TICKS}", patch: ${'{ a: '.repeat(1200)}1${' }'.repeat(1200)} }) { __typename } }` })),
    expected: { code: 'QUERY_TOO_COMPLEX', message: /nests deeper than 64 levels/ },
  },
  {
    name: 'GraphQL over HTTP: a body of 300,000 empty objects',
    as: 'none',
    send: graphqlHttp(`{"query": "{ __typename }", "variables": {"x": [${Array.from({ length: 300_000 }, () => '{}').join(',')}]}}`),
    expected: { status: 400, code: 'BAD_USER_INPUT', message: /more than 32000 members/ },
  },
  {
    name: 'GraphQL over HTTP: an anonymous document with 300 fields of one name (graphql-js compares them pairwise)',
    as: 'none',
    send: graphqlHttp(JSON.stringify({ query: `{ ${Array.from({ length: 300 }, (_, i) => `a: ${i % 2 ? '__typename' : 'viewer { name }'}`).join(' ')} }` })),
    expected: { code: 'QUERY_TOO_COMPLEX', message: /asks for "a" 300 times; the limit is 100/ },
  },
  {
    name: 'GraphQL: a negative page size',
    send: { via: 'graphql', query: '{ configs(first: -1) { edges { node { service } } } }' },
    expected: { code: 'BAD_USER_INPUT', message: /must be a non-negative integer/ },
  },
  {
    name: 'GraphQL: a cursor that does not decode',
    send: { via: 'graphql', query: `{ configHistory(service: "${TICKS}", after: "garbage") { edges { node { version } } } }` },
    expected: { code: 'BAD_USER_INPUT', message: /Invalid cursor/ },
  },
  {
    name: 'GraphQL: a cursor of another kind (a bigint cursor for the configs, once an internal error)',
    send: { via: 'graphql', query: `{ configs(before: "${Buffer.from('GPC:I:3').toString('base64')}") { edges { node { service } } } }` },
    expected: { code: 'BAD_USER_INPUT', message: /Invalid cursor/ },
  },
  {
    name: 'GraphQL: a text cursor for a history',
    send: { via: 'graphql', query: `{ configHistory(service: "${TICKS}", after: "${Buffer.from('GPC:S:x').toString('base64')}") { edges { node { version } } } }` },
    expected: { code: 'BAD_USER_INPUT', message: /Invalid cursor/ },
  },
  {
    name: 'GraphQL: a global id whose key is not a row id',
    send: { via: 'graphql', query: `{ node(id: "${Buffer.from('ServiceConfig:x').toString('base64')}") { id } }` },
    expected: { code: 'BAD_USER_INPUT', message: /Invalid global ID/ },
  },
  {
    name: 'WebSocket: a global id that does not decode',
    send: { via: 'ws', query: '{ nodes(ids: ["garbage"]) { id } }' },
    expected: { code: 'BAD_USER_INPUT', message: /Invalid global ID/ },
  },
  {
    name: 'REST: ?dryRun=1 (once wrote for real)',
    send: restPatch(TICKS, { operational: { worker_threads: 9 } }, '?dryRun=1'),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /^dryRun must be true or false/ },
  },
  {
    name: 'REST: ?dryRun=TRUE',
    send: restPatch(TICKS, { operational: { worker_threads: 9 } }, '?dryRun=TRUE'),
    expected: { status: 400, code: 'BAD_PARAMETER', message: /^dryRun must be true or false/ },
  },

  // Keys named after Object.prototype members.
  {
    name: 'GraphQL: a dry-run patch that sets hasOwnProperty and deletes a key',
    send: update({ service: TICKS, patch: { hasOwnProperty: 1, obsolete_setting: null }, dryRun: true }),
    expected: { code: /^(ConfigWrite|ValidationError)$/, message: /./ },
  },
  {
    name: 'REST: a dry-run patch that sets hasOwnProperty and deletes a key',
    send: restPatch(TICKS, { hasOwnProperty: 1, obsolete_setting: null }, '?dryRun=true'),
    expected: { status: [200, 422], code: /^(NO_ERROR|VALIDATION_FAILED)$/, message: /./ },
  },
];

// ---------------------------------------------------------------------------------------------------

describe.each(backends)('bad inputs on %s: refused with a specific error, nothing written', (backend) => {
  let t: TestApp;
  let base: string;

  /** `Authorization` header values by credential; undefined sends none. */
  const authorizations = new Map<Credential, string | undefined>();

  beforeAll(async () => {
    t = await createTestApp(backend);
    base = await t.app.start();
    authorizations.set('admin', `Bearer ${t.adminToken}`);
    authorizations.set('none', undefined);
    authorizations.set('basic', `Basic ${Buffer.from('admin:admin').toString('base64')}`);
    authorizations.set('unknown', `Bearer chub_${'A'.repeat(43)}`);
    for (const [credential, grant] of Object.entries(TOKEN_GRANTS)) {
      const name = `corpus-${credential.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`)}`;
      const { token } = await t.app.tokens.create({ name, ...grant, expiresAt: credential === 'expired' ? new Date(Date.now() + 3_600_000) : null }, 'bad-input-corpus');
      authorizations.set(credential as Credential, `Bearer ${token}`);
    }
    // Expired an hour early, as time would have done (the hub only makes tokens that expire in the future).
    await t.db.session((sql) => sql.query(`UPDATE api_tokens SET expires_at = now() - interval '1 minute' WHERE name = 'corpus-expired'`));
    const revoked = await t.graphql(`mutation { revokeToken(input: { name: "corpus-revoked" }) { __typename ... on ApiToken { revokedAt } } }`);
    expect(revoked.data.revokeToken.revokedAt).toEqual(expect.any(String));
  });
  afterAll(async () => {
    await t?.close();
  });

  async function send(request: Send, as: Credential = 'admin'): Promise<Outcome> {
    const authorization = authorizations.get(as);
    const headers: Record<string, string> = authorization === undefined ? {} : { authorization };
    switch (request.via) {
      case 'graphql': {
        const response = await t.app.fetch(
          new Request('http://confighub.test/graphql', {
            method: 'POST',
            headers: { ...JSON_TYPE, ...headers },
            body: JSON.stringify({ query: request.query, variables: request.variables }),
          }),
        );
        return graphqlOutcome(await response.json(), response.status);
      }
      case 'http': {
        const response = await fetch(base + request.path, {
          method: request.method ?? 'GET',
          headers: { ...headers, ...request.headers },
          body: request.body as BodyInit | undefined,
        });
        if (request.path.startsWith('/graphql')) {
          const text = await response.text();
          try {
            const body = JSON.parse(text);
            // The gateway's own refusals (413) use the REST shape.
            if (body.error) return { status: response.status, code: body.error.code, message: body.error.message };
            return graphqlOutcome(body, response.status);
          } catch {
            return { status: response.status, code: 'NOT_JSON', message: text.slice(0, 500) };
          }
        }
        return restOutcome(response);
      }
      case 'ws':
        return webSocketOutcome(base, { query: request.query, variables: request.variables }, request.connectionParams ?? headers);
      case 'ws-raw':
        return rawWebSocketOutcome(base, request.message, headers);
    }
  }

  it('has at least 40 cases, over every transport', () => {
    expect(corpus.length).toBeGreaterThanOrEqual(40);
    const names = corpus.map((entry) => entry.name);
    expect(new Set(names).size).toBe(names.length);
    for (const prefix of ['REST:', 'GraphQL:', 'GraphQL over HTTP:', 'WebSocket:']) {
      expect(names.filter((name) => name.startsWith(prefix)).length).toBeGreaterThanOrEqual(3);
    }
    // Every credential is exercised.
    expect(new Set(corpus.map((entry) => entry.as ?? 'admin')).size).toBe(Object.keys(TOKEN_GRANTS).length + 4);
  });

  it.each(corpus.map((entry) => ({ ...entry, title: entry.defect ? `${entry.name} [KNOWN DEFECT: ${entry.defect}]` : entry.name })))(
    '$title',
    async ({ send: request, as, expected }) => {
      const before = await storedDigest(t.db);
      const beforeTables = await tablesDigest(t.db);

      const outcome = await send(request, as);

      if (expected.status !== undefined) expect([expected.status].flat(), JSON.stringify(outcome)).toContain(outcome.status);
      if (typeof expected.code === 'string') expect(outcome.code, JSON.stringify(outcome)).toBe(expected.code);
      else expect(outcome.code, JSON.stringify(outcome)).toMatch(expected.code);
      expect(outcome.message).toMatch(expected.message);
      if (expected.pointers) expect([...(outcome.pointers ?? [])].sort()).toEqual([...expected.pointers].sort());
      // Byte for byte: configs and audit log as every test compares them, and the other tables too.
      expect(await tablesDigest(t.db)).toBe(beforeTables);
      expect(await storedDigest(t.db)).toEqual(before);
    },
  );

  // The control: the same comparison does see a write, so the cases above can fail.
  it('sees an accepted write in both digests', async () => {
    const before = await storedDigest(t.db);
    const beforeTables = await tablesDigest(t.db);
    const outcome = await send(update({ service: TICKS, patch: { operational: { worker_threads: 6 } }, reason: 'control' }));
    expect(outcome).toMatchObject({ code: 'ConfigWrite', message: 'changed: true' });
    expect(await tablesDigest(t.db)).not.toBe(beforeTables);
    expect((await storedDigest(t.db)).tables).not.toBe(before.tables);
  });

  // Last: it uses up this address's failed authentications for the next minute.
  it('refuses an address that keeps failing authentication with 429 and Retry-After, writing nothing', async () => {
    const before = await storedDigest(t.db);
    let response: Response | undefined;
    for (let attempt = 1; attempt <= 21; attempt++) {
      response = await fetch(`${base}/api/v1/config/${TICKS}`, {
        method: 'POST',
        headers: { ...JSON_TYPE, authorization: authorizations.get('unknown')! },
        body: JSON.stringify({ operational: { worker_threads: 8 } }),
      });
      if (response.status === 429) break;
      expect(response.status).toBe(401);
      await response.body?.cancel();
    }
    expect(response!.status).toBe(429);
    expect(response!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(await restOutcome(response!)).toMatchObject({ code: 'TOO_MANY_FAILED_AUTHENTICATIONS', message: expect.stringMatching(/retry in \d+ s/) });
    expect(await storedDigest(t.db)).toEqual(before);
  });
});
