// The hostile inputs of bench/abuse.ts, by group, each sent the way it hurts most: writes as dry runs
// by the admin (nothing accumulates), refusals the server should make early as an anonymous caller,
// REST and WebSockets where they take another road. Sizes come from the gateway's own limits (imported
// from src/), so that each input sits just under the limit it tests, or just over where the refusal is
// the point. Every group prepares what it needs (configs, schemas, a long history) through the gateway.
import { MAX_BODY_BYTES } from '../../src/server/body.ts';
import { MAX_DOCUMENT_TOKENS } from '../../src/server/graphql/yoga.ts';
import { MAX_SCHEMA_OBJECTS } from '../../src/store/configSchemas.ts';
import { MAX_DOCUMENT_BYTES, MAX_REQUEST_NESTING, MAX_REQUEST_STRUCTURE } from '../../src/store/documents.ts';
import { MAX_PATTERNS, PATTERN_WORK_BUDGET, PatternCompiler, PatternMeter } from '../../src/protocol/schemaPatterns.ts';
import { MAX_DESCRIPTION_BYTES, MAX_REASON_BYTES } from '../../src/store/texts.ts';
import { type Attack, GraphQLSocket, type HttpRequestSpec, type WebSocketSession, sendHttp, wsOutcomeOf } from './abuseClients.ts';
import { BENCH_ADMIN_TOKEN, benchAuth } from './auth.ts';
import { READ_QUERY } from './benchConfigs.ts';

export const GROUPS = ['secret', 'schema', 'json', 'graphql', 'graphiql', 'ws', 'history', 'extra'] as const;
export type GroupName = (typeof GROUPS)[number];

export interface HostileInput {
  /** `<group>-<name>`, what BENCH_PHASES and BENCH_PROFILE select. */
  id: string;
  /** What the table shows. */
  label: string;
  /** What is sent, how, and how large: printed before the phase. */
  detail: string;
  attack: Attack;
}

export interface PrepareContext {
  baseUrl: string;
  /** Attackers per phase (BENCH_ATTACKERS). */
  attackers: number;
  /** A GraphQL request as the admin; throws on a transport or GraphQL error. */
  graphql<T>(query: string, variables?: Record<string, unknown>): Promise<T>;
}

export interface PreparedGroup {
  inputs: HostileInput[];
  /** What setup found worth reporting (schemas refused at setConfigSchema, sizes). */
  notes: string[];
}

export interface InputGroup {
  name: GroupName;
  prepare(context: PrepareContext): Promise<PreparedGroup>;
}

// ---------------------------------------------------------------------------------------------------
// Requests

const ADMIN_JSON = { 'content-type': 'application/json', ...benchAuth };
const ANONYMOUS_JSON = { 'content-type': 'application/json' };
const ADMIN_AUTHORIZATION = `Bearer ${BENCH_ADMIN_TOKEN}`;

const graphqlPost = (body: string | Buffer, headers: Record<string, string> = ADMIN_JSON): HttpRequestSpec => ({
  method: 'POST',
  path: '/graphql',
  headers,
  body: typeof body === 'string' ? Buffer.from(body) : body,
});

/** Sends the same requests in turn. */
const inTurn = (requests: HttpRequestSpec[]) => (sequence: number) => requests[sequence % requests.length]!;

const http = (connections: number, next: (sequence: number) => HttpRequestSpec): Attack => ({ kind: 'http', connections, next });

const kib = (bytes: number) => `${(bytes / 1024).toFixed(bytes < 10 * 1024 ? 1 : 0)} KiB`;
const count = (value: number) => value.toLocaleString('en-US');


export function baselineInput(attackers: number): HostileInput {
  return {
    id: 'baseline',
    label: 'baseline: honest small reads',
    detail: `${attackers} connections reading one cached config (the bench:read query) back to back`,
    attack: http(attackers, inTurn([graphqlPost(JSON.stringify({ query: READ_QUERY }))])),
  };
}

/** A dry run selects what a careful client would: the diff, and every issue of a refusal. */
const DRY_RUN = `mutation AbuseDryRun($input: UpdateConfigInput!) {
  updateConfig(input: $input) {
    __typename
    ... on ConfigWrite { changed diff { op path } }
    ... on ValidationError { issues { pointer message } }
    ... on SecretRejectedError { issues { pointer message } }
    ... on Error { message }
  }
}`;

const dryRunBody = (service: string, config: unknown, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ query: DRY_RUN, variables: { input: { service, config, dryRun: true, ...extra } } });

const CREATE = `mutation AbuseCreate($input: CreateConfigInput!) {
  createConfig(input: $input) { __typename ... on Error { message } }
}`;

const UPDATE = `mutation AbuseUpdate($input: UpdateConfigInput!) {
  updateConfig(input: $input) { __typename ... on ConfigWrite { config { version } } ... on Error { message } }
}`;

const SET_SCHEMA = `mutation AbuseSetSchema($input: SetConfigSchemaInput!) {
  setConfigSchema(input: $input) {
    __typename
    ... on ConfigSchema { version }
    ... on ValidationError { issues { pointer message } }
    ... on Error { message }
  }
}`;

/** Creates a config unless it exists (a database kept from an earlier run, BENCH_DATABASE_URL). */
async function ensureConfig(context: PrepareContext, service: string, config: Record<string, unknown>): Promise<void> {
  const { createConfig } = await context.graphql<{ createConfig: { __typename: string; message?: string } }>(CREATE, {
    input: { service, config, reason: 'bench:abuse setup' },
  });
  if (createConfig.__typename !== 'ConfigWrite' && createConfig.__typename !== 'AlreadyExistsError') {
    throw new Error(`creating ${service} failed: ${JSON.stringify(createConfig)}`);
  }
}

// ---------------------------------------------------------------------------------------------------
// Documents at the limits

/** Room for one string or key in a document `{"v":"..."}` of at most MAX_DOCUMENT_BYTES. */
const VALUE_ROOM = MAX_DOCUMENT_BYTES - 64;

/** `unit` repeated as often as fits in `bytes` of JSON text. */
function repeatToFit(unit: string, bytes: number): string {
  const unitBytes = Buffer.byteLength(JSON.stringify(unit)) - 2;
  return unit.repeat(Math.floor(bytes / unitBytes));
}

/** Throws unless the document is within the document limit (then it reaches every check). */
function withinLimit<T extends object>(document: T, what: string): T {
  const bytes = Buffer.byteLength(JSON.stringify(document));
  if (bytes > MAX_DOCUMENT_BYTES) throw new Error(`${what}: ${bytes} bytes, over the ${MAX_DOCUMENT_BYTES}-byte document limit`);
  return document;
}

const documentBytes = (document: unknown) => Buffer.byteLength(JSON.stringify(document));

/** A small deterministic generator (mulberry32), so runs send the same inputs. */
function random(seed: number) {
  let state = seed >>> 0;
  const next = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    text(length: number, alphabet: string): string {
      let out = '';
      for (let i = 0; i < length; i++) out += alphabet[Math.floor(next() * alphabet.length)];
      return out;
    },
  };
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
const LOWER_DIGITS = 'abcdefghijklmnopqrstuvwxyz0123456789';
const DIGITS = '0123456789';
/** Distinct documents per input, sent in turn: the secret guard remembers up to 10,000 clean strings. */
const VARIANTS = 4;

/** As many members with distinct random keys and values as fit the document limit. */
function distinctMembers(seed: number, valueOf: (rng: ReturnType<typeof random>, index: number) => string): Record<string, string> {
  const rng = random(seed);
  const document: Record<string, string> = {};
  let bytes = 2;
  for (let index = 0; ; index++) {
    // Hex and digits: no key spells a word (a key named like "pw" or "dsn" would be refused as a secret's name).
    const key = `k${index.toString(16)}_${rng.text(4, DIGITS)}`;
    const value = valueOf(rng, index);
    const added = Buffer.byteLength(JSON.stringify(key)) + Buffer.byteLength(JSON.stringify(value)) + 2;
    if (bytes + added > MAX_DOCUMENT_BYTES - 16) break;
    document[key] = value;
    bytes += added;
  }
  return document;
}

/**
 * Strings that start like a credential format but are not one (too short, a character off): each sends
 * the guard down a format's check instead of past it.
 */
const NEAR_MISSES: ((rng: ReturnType<typeof random>) => string)[] = [
  (rng) => `ghp_${rng.text(30, BASE64URL.slice(0, 62))}`,
  (rng) => `AKIA${rng.text(12, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567')}`,
  (rng) => `eyJ${rng.text(16, BASE64URL)}.${rng.text(6, BASE64URL)}`,
  (rng) => `sk-${rng.text(12, BASE64URL)}`,
  (rng) => `xoxb-${rng.text(8, LOWER_DIGITS)}`,
  (rng) => `https://${rng.text(6, LOWER_DIGITS)}:@${rng.text(5, LOWER_DIGITS)}`,
  (rng) => `${rng.text(5, LOWER_DIGITS)}=${rng.text(5, LOWER_DIGITS)};`,
  (rng) => `Bearer ${rng.text(6, BASE64URL)}`,
  (rng) => `-----BEGIN ${rng.text(6, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ')}`,
  (rng) => `${rng.text(8, LOWER_DIGITS)}@${rng.text(6, LOWER_DIGITS)}:${rng.text(4, '0123456789')}`,
];

/** The hostile shapes of text, each as the secret guard's tests name them (test/secretGuard.test.ts). */
const SHAPES: { name: string; unit: string }[] = [
  { name: '"eyJ-" repeated', unit: 'eyJ-' },
  { name: '"a:" repeated', unit: 'a:' },
  { name: '"://" repeated', unit: '://' },
  { name: '"=;" repeated', unit: '=;' },
  { name: '"1:" repeated', unit: '1:' },
  { name: 'one base64 run', unit: 'QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9wcXJzdHV2d3h5ejAxMjM0NTY3ODkrLw' },
  { name: 'U+FDFA repeated (18 characters each in NFKD)', unit: '\ufdfa' },
  { name: 'Cyrillic lookalikes (а е о р с х у)', unit: '\u0430\u0435\u043e\u0440\u0441\u0445\u0443' },
];

// ---------------------------------------------------------------------------------------------------
// secret: the secret guard's quadratic shapes, in values, keys and free texts

const SECRET_SERVICE = 'abuse-secret';

const secretGroup: InputGroup = {
  name: 'secret',
  async prepare(context) {
    await ensureConfig(context, SECRET_SERVICE, { name: 'abuse' });
    const inputs: HostileInput[] = [];
    const dryRun = (id: string, label: string, documents: object[], detail: string) => {
      const bodies = documents.map((document, index) => graphqlPost(dryRunBody(SECRET_SERVICE, withinLimit(document, `${id} #${index}`))));
      inputs.push({
        id,
        label,
        detail: `${detail}; dry-run updateConfig (GraphQL, admin), ${kib(bodies[0]!.body!.length)} bodies`,
        attack: http(context.attackers, inTurn(bodies)),
      });
    };
    for (const [index, shape] of SHAPES.entries()) {
      const id = `secret-value-${['eyj', 'colon', 'url', 'assign', 'port', 'base64', 'nfkd', 'cyrillic'][index]}`;
      const value = repeatToFit(shape.unit, VALUE_ROOM);
      dryRun(id, `value: ${shape.name}`, [{ v: value }], `one string of ${count(value.length)} characters (${kib(Buffer.byteLength(value))})`);
    }
    const key = repeatToFit('aB', VALUE_ROOM);
    dryRun('secret-key-case', 'key: "aB" repeated', [{ [key]: 1 }], `one key of ${count(key.length)} characters of alternating case`);
    const strings = Array.from({ length: VARIANTS }, (_, variant) => distinctMembers(1000 + variant, (rng) => rng.text(16, BASE64URL)));
    dryRun(
      'secret-distinct',
      'distinct random keys and values',
      strings,
      `${count(Object.keys(strings[0]!).length)} members, every key and value a distinct random string (${VARIANTS} documents in turn)`,
    );
    const misses = Array.from({ length: VARIANTS }, (_, variant) => distinctMembers(2000 + variant, (rng, i) => NEAR_MISSES[i % NEAR_MISSES.length]!(rng)));
    dryRun(
      'secret-near-misses',
      'near-miss credential shapes',
      misses,
      `${count(Object.keys(misses[0]!).length)} values each starting like a credential format (ghp_, AKIA, eyJ, sk-, xoxb-, URLs, name=value, Bearer, PEM) without being one`,
    );
    const arrays = Array.from({ length: VARIANTS }, (_, variant) => {
      const rng = random(3000 + variant);
      // `"<10 characters>",` is 13 bytes.
      return { list: Array.from({ length: Math.floor((VALUE_ROOM - 16) / 13) }, () => rng.text(10, BASE64URL)) };
    });
    dryRun('secret-array', 'distinct random strings in an array', arrays, `${count(arrays[0]!.list.length)} distinct 10-character strings in one array`);
    // Free texts: every request sends each shape in turn at the reason's and the description's limits.
    const texts = SHAPES.map((shape) =>
      graphqlPost(
        dryRunBody(SECRET_SERVICE, { name: 'abuse' }, { reason: repeatToFit(shape.unit, MAX_REASON_BYTES), description: repeatToFit(shape.unit, MAX_DESCRIPTION_BYTES) }),
      ),
    );
    inputs.push({
      id: 'secret-texts',
      label: 'reason (1 KiB) + description (4 KiB)',
      detail: `each shape above in turn, filling the reason (${MAX_REASON_BYTES} bytes) and the description (${MAX_DESCRIPTION_BYTES} bytes) of a dry run`,
      attack: http(context.attackers, inTurn(texts)),
    });
    return { inputs, notes: [] };
  },
};

// ---------------------------------------------------------------------------------------------------
// schema: patterns, uniqueItems and enums that a schema accepts, then documents that match them badly

/** The compiled size of a pattern, or null when a new schema may not hold it (the gateway's own compiler). */
function patternSize(source: string): number | null {
  const compiler = new PatternCompiler(new PatternMeter());
  compiler.applyLimits();
  try {
    return compiler.compile(source).size;
  } catch {
    return null;
  }
}

/** The largest n in [1, max] for which `pattern(n)` is accepted, by bisection (acceptance falls with n). */
function largestAccepted(pattern: (n: number) => string, max: number): number | null {
  if (patternSize(pattern(1)) === null) return null;
  let low = 1;
  let high = max;
  while (low < high) {
    const middle = Math.ceil((low + high) / 2);
    if (patternSize(pattern(middle)) !== null) low = middle;
    else high = middle - 1;
  }
  return low;
}

/** The longest text one check of `source` may run on within the pattern work budget, and within a document. */
function budgetLength(source: string): number {
  const size = patternSize(source) ?? 0;
  return Math.min(Math.floor((PATTERN_WORK_BUDGET - 256) / Math.max(size, 32)), VALUE_ROOM - 8);
}

interface SchemaCase {
  id: string;
  label: string;
  service: string;
  schema: Record<string, unknown>;
  /** Documents sent in turn (dry runs); built only if the schema is accepted. */
  documents: () => object[];
  detail: string;
}

/** Sets a schema; returns the refusal's message, or null when accepted. */
async function trySchema(context: PrepareContext, service: string, schema: unknown): Promise<string | null> {
  const { setConfigSchema } = await context.graphql<{
    setConfigSchema: { __typename: string; message?: string; issues?: { pointer: string; message: string }[] };
  }>(SET_SCHEMA, { input: { service, schema, reason: 'bench:abuse' } });
  if (setConfigSchema.__typename === 'ConfigSchema') return null;
  const issue = setConfigSchema.issues?.[0];
  return `${setConfigSchema.__typename}: ${issue ? `${issue.pointer} ${issue.message}` : setConfigSchema.message}`.slice(0, 240);
}

const stringsSchema = (pattern: string) => ({ type: 'object', additionalProperties: { type: 'string', pattern } });

/** 100 different patterns (the most a schema may hold) as large as their total allows, none matching random a/b text. */
function manyPatterns(): string[] {
  const compiler = new PatternCompiler(new PatternMeter());
  compiler.applyLimits();
  const patterns: string[] = [];
  for (let index = 0; patterns.length < MAX_PATTERNS && index < 10 * MAX_PATTERNS; index++) {
    // Bounded by the total of all patterns' sizes: the largest repetition each can have, the 100 together.
    for (let n = 12; n >= 1; n--) {
      const source = `(a|b)*a(a|b){${n}}c${index}$`;
      try {
        compiler.compile(source);
        patterns.push(source);
        break;
      } catch {
        // Too large with what is already in: try a smaller repetition.
      }
    }
  }
  return patterns;
}

const schemaGroup: InputGroup = {
  name: 'schema',
  async prepare(context) {
    const notes: string[] = [];
    const ab = (seed: number, length: number, failAt: number) => {
      const text = random(seed).text(length, 'ab').split('');
      text[length - failAt - 1] = 'b';
      return text.join('');
    };
    // The nastiest shapes, at the size the checker takes; larger ones are tried too, to report the refusal.
    const counted = largestAccepted((n) => `(\\w+\\s?){1,${n}}$`, 1000) ?? 1;
    const uncacheable = largestAccepted((n) => `(a|b)*a(a|b){${n}}$`, 2000) ?? 1;
    const refusedAttempts: [string, string][] = [
      ['(\\w+\\s?){1,1000}$', 'abuse-schema-refused-counted'],
      ['(a|b)*a(a|b){2000}$', 'abuse-schema-refused-uncacheable'],
      ['^(?=a)(a+)+$', 'abuse-schema-refused-lookahead'],
      ['^(a+)+\\1$', 'abuse-schema-refused-backreference'],
      [`(?:[a-z]{1000}){1000}`, 'abuse-schema-refused-huge'],
    ];
    for (const [pattern, service] of refusedAttempts) {
      const refusal = await trySchema(context, service, stringsSchema(pattern));
      notes.push(`setConfigSchema pattern ${JSON.stringify(pattern)}: ${refusal === null ? 'ACCEPTED' : `refused (${refusal})`}`);
    }
    const cases: SchemaCase[] = [];
    const patternCase = (id: string, pattern: string, text: (length: number) => string, how: string) => {
      const length = budgetLength(pattern);
      cases.push({
        id,
        label: `pattern ${pattern}`,
        service: `abuse-${id}`,
        schema: stringsSchema(pattern),
        documents: () => [{ v: text(length) }],
        detail: `"${pattern}" (${patternSize(pattern)} instructions) against one string of ${count(length)} characters (${how}), as long as the work budget allows`,
      });
    };
    patternCase('schema-nested-plus', '^(a+)+$', (n) => `${'a'.repeat(n - 1)}!`, "'a'... then '!'");
    cases.push({
      id: 'schema-nested-plus-many',
      label: 'pattern ^(a+)+$, many strings',
      service: 'abuse-schema-nested-plus',
      schema: stringsSchema('^(a+)+$'),
      documents: () => [distinctMembers(4000, () => `${'a'.repeat(24)}!`)],
      detail: `"^(a+)+$" against ${count(Object.keys(distinctMembers(4000, () => `${'a'.repeat(24)}!`)).length)} strings of 24 'a' then '!'`,
    });
    patternCase('schema-counted', `(\\w+\\s?){1,${counted}}$`, (n) => `${'a'.repeat(n - 1)}!`, "'a'... then '!'");
    patternCase('schema-alternation', '(a|a)*b', (n) => 'a'.repeat(n), "'a' only");
    patternCase('schema-dot-stars', '.*.*.*=.*', (n) => 'a'.repeat(n), "no '='");
    patternCase('schema-uncacheable', `(a|b)*a(a|b){${uncacheable}}$`, (n) => ab(5000, n, uncacheable), 'random a/b that fails at its end');
    const patterns = manyPatterns();
    cases.push({
      id: 'schema-many-patterns',
      label: `${patterns.length} patternProperties`,
      service: 'abuse-schema-many-patterns',
      schema: { type: 'object', patternProperties: Object.fromEntries(patterns.map((pattern) => [pattern, { type: 'integer' }])) },
      documents: () =>
        Array.from({ length: VARIANTS }, (_, variant) => {
          const rng = random(6000 + variant);
          const document: Record<string, number> = {};
          // `"<20 characters>":0,` is 25 bytes.
          const members = Math.min(Math.floor((VALUE_ROOM - 16) / 25), Math.floor((MAX_REQUEST_STRUCTURE - 1000) / 2));
          for (let added = 0; added < members; ) {
            const key = rng.text(20, 'ab');
            if (key in document) continue;
            document[key] = 0;
            added++;
          }
          return document;
        }),
      detail: `${patterns.length} different patterns such as "${patterns[0]}" as patternProperties keys, against every key of documents of distinct 20-character a/b keys`,
    });
    const uniqueCount = Math.min(Math.floor((VALUE_ROOM - 16) / 8), Math.floor((MAX_REQUEST_STRUCTURE - 1000) / 2));
    cases.push({
      id: 'schema-unique-arrays',
      label: `uniqueItems, ${count(uniqueCount)} one-element arrays`,
      service: 'abuse-schema-unique',
      schema: { type: 'object', properties: { list: { type: 'array', uniqueItems: true } } },
      documents: () => [{ list: Array.from({ length: uniqueCount }, (_, index) => [index]) }],
      detail: `"uniqueItems": true on an array of ${count(uniqueCount)} distinct one-element arrays`,
    });
    // As large an enum as a schema may hold, and as many members as a document may, none in the enum.
    const enumValues: string[] = [];
    for (let bytes = 256; bytes < MAX_DOCUMENT_BYTES - 256; bytes += enumValues[enumValues.length - 1]!.length + 3) enumValues.push(`e${enumValues.length}`);
    const enumDocument = (value: (index: number) => string | number) => {
      const document: Record<string, string | number> = {};
      let bytes = 2;
      for (let index = 0; index < (MAX_REQUEST_STRUCTURE - 1000) / 2; index++) {
        const added = documentBytes(`k${index}`) + documentBytes(value(index)) + 2;
        if (bytes + added > MAX_DOCUMENT_BYTES - 64) break;
        document[`k${index}`] = value(index);
        bytes += added;
      }
      return document;
    };
    cases.push({
      id: 'schema-enum-values',
      label: `enum of ${count(enumValues.length)}, many values`,
      service: 'abuse-schema-enum-values',
      schema: { type: 'object', additionalProperties: { enum: enumValues } },
      documents: () => [enumDocument(() => 'x')],
      detail: `additionalProperties: { enum: [${count(enumValues.length)} strings] } against ${count(Object.keys(enumDocument(() => 'x')).length)} values not in it`,
    });
    cases.push({
      id: 'schema-enum-names',
      label: `propertyNames enum of ${count(enumValues.length)}`,
      service: 'abuse-schema-enum-names',
      schema: { type: 'object', propertyNames: { enum: enumValues } },
      documents: () => [enumDocument(() => 0)],
      detail: `propertyNames: { enum: [${count(enumValues.length)} strings] } against ${count(Object.keys(enumDocument(() => 0)).length)} keys not in it`,
    });

    const inputs: HostileInput[] = [];
    const prepared = new Set<string>();
    for (const schemaCase of cases) {
      if (!prepared.has(schemaCase.service)) {
        await ensureConfig(context, schemaCase.service, {});
        const refusal = await trySchema(context, schemaCase.service, schemaCase.schema);
        notes.push(`setConfigSchema ${schemaCase.label} (${kib(documentBytes(schemaCase.schema))}): ${refusal === null ? 'accepted' : `refused (${refusal})`}`);
        prepared.add(schemaCase.service);
        if (refusal !== null) continue;
      }
      const bodies = schemaCase.documents().map((document, index) => graphqlPost(dryRunBody(schemaCase.service, withinLimit(document, `${schemaCase.id} #${index}`))));
      inputs.push({
        id: schemaCase.id,
        label: schemaCase.label,
        detail: `${schemaCase.detail}; dry-run updateConfig (GraphQL, admin), ${kib(bodies[0]!.body!.length)} bodies`,
        attack: http(context.attackers, inTurn(bodies)),
      });
    }

    // Compiling new schemas: refused only after compiling, by the service's config, which breaks each of
    // them (a schema its live configs break is refused), so nothing accumulates. Without an expectedVersion
    // (a stale one is refused before compiling).
    const smallVariants = 8;
    const breaking: Record<string, unknown> = { p0: 1 };
    for (let variant = 0; variant < smallVariants; variant++) breaking[`s${variant}_0`] = 1;
    await ensureConfig(context, 'abuse-schema-compile', breaking);
    const setSchema = (schema: Record<string, unknown>) => graphqlPost(JSON.stringify({ query: SET_SCHEMA, variables: { input: { service: 'abuse-schema-compile', schema } } }));
    const properties: Record<string, unknown> = {};
    for (let index = 0; index < MAX_SCHEMA_OBJECTS - 2; index++) properties[`p${index}`] = { type: 'string', pattern: patterns[index % patterns.length], maxLength: 64 };
    const compileBody = setSchema({ type: 'object', properties });
    inputs.push({
      id: 'schema-compile',
      label: `setConfigSchema: ${count(MAX_SCHEMA_OBJECTS - 2)} properties, ${patterns.length} patterns`,
      detail: `setConfigSchema (admin) of a schema at the object and pattern limits (${kib(compileBody.body!.length)}, compiled on the worker thread), refused after compiling: the service's config breaks it`,
      attack: http(context.attackers, inTurn([compileBody])),
    });
    // Small new schemas, a different one each request (those under 4 KiB were once compiled on the event loop).
    const smallBodies = Array.from({ length: smallVariants }, (_, variant) => {
      const small: Record<string, unknown> = {};
      for (let index = 0; index < 20; index++) small[`s${variant}_${index}`] = { type: 'string', pattern: `^[a-z]{1,${index + 2}}-${variant}$`, format: index % 2 ? 'uri' : 'hostname' };
      return setSchema({ type: 'object', properties: small });
    });
    inputs.push({
      id: 'schema-compile-small',
      label: 'setConfigSchema: small schemas, a new one each time',
      detail: `setConfigSchema (admin) of ${smallBodies.length} different schemas of 20 properties with patterns and formats (${kib(smallBodies[0]!.body!.length)}), refused after compiling: the service's config breaks each`,
      attack: http(context.attackers, inTurn(smallBodies)),
    });
    return { inputs, notes };
  },
};

// ---------------------------------------------------------------------------------------------------
// json: bodies of 1 MiB built to make parsing slow

/** A body of `prefix + unit * n + suffix` of just under the body limit. */
function fillBody(prefix: string, unit: string, suffix: string): Buffer {
  const room = MAX_BODY_BYTES - 64 - Buffer.byteLength(prefix) - Buffer.byteLength(suffix);
  return Buffer.from(prefix + unit.repeat(Math.floor(room / Buffer.byteLength(unit))) + suffix);
}

/** A dry-run body whose `config` is `configText` (JSON text written by hand, up to the body limit). */
function dryRunWithConfigText(configText: string): Buffer {
  const marker = '"__CONFIG__"';
  return Buffer.from(dryRunBody(SECRET_SERVICE, '__CONFIG__').replace(marker, configText));
}

const jsonGroup: InputGroup = {
  name: 'json',
  async prepare(context) {
    await ensureConfig(context, SECRET_SERVICE, { name: 'abuse' });
    const inputs: HostileInput[] = [];
    const add = (id: string, label: string, detail: string, request: HttpRequestSpec) =>
      inputs.push({ id, label, detail: `${detail} (${kib(request.body!.length)})`, attack: http(context.attackers, inTurn([request])) });

    add('json-empty-objects', '[{},{},...] body', 'anonymous POST /graphql of a body [{},{},...]: refused by the structure count', graphqlPost(fillBody('[', '{},', '{}]'), ANONYMOUS_JSON));
    const emptyObjects = Math.floor((MAX_REQUEST_STRUCTURE - 200) / 2);
    add(
      'json-empty-objects-document',
      `${count(emptyObjects)} {} in a document`,
      `dry run (admin) of a document {"x":[{},{},...]} of ${count(emptyObjects)} empty objects, just under the structure limit: parsed, checked and diffed`,
      graphqlPost(dryRunWithConfigText(`{"x":[${'{},'.repeat(emptyObjects - 1)}{}]}`)),
    );
    const keys60k = Array.from({ length: 60_000 }, (_, index) => `"${index.toString(36).padStart(9, 'k')}":0`).join(',');
    add('json-keys-60k', '60,000 keys in one object', 'anonymous POST /graphql of one object with 60,000 distinct keys: refused by the structure count', graphqlPost(`{"query":"{__typename}","variables":{${keys60k}}}`, ANONYMOUS_JSON));
    // As many keys as the structure limit allows, long enough to fill the body: parsed, then refused by size.
    const keyCount = Math.floor((MAX_REQUEST_STRUCTURE - 200) / 2);
    const keyLength = Math.floor((MAX_BODY_BYTES - 2048) / keyCount) - 5;
    const keysText = Array.from({ length: keyCount }, (_, index) => `"${index.toString(36).padStart(keyLength, 'k')}":0`).join(',');
    add(
      'json-keys-under-limit',
      `${count(keyCount)} keys, 1 MiB document`,
      `dry run (admin) of a document of ${count(keyCount)} distinct ${keyLength}-character keys: parsed, walked, refused by size`,
      graphqlPost(dryRunWithConfigText(`{${keysText}}`)),
    );
    add('json-deep', '[[[[... body', 'anonymous POST /graphql of a body [[[[...: refused by nesting', graphqlPost(fillBody('', '[', ''), ANONYMOUS_JSON));
    add('json-numbers-500k', '500,000 numbers', 'anonymous POST /graphql of [1,1,1,...] (over 500,000 numbers): refused by the structure count', graphqlPost(fillBody('[', '1,', '1]'), ANONYMOUS_JSON));
    // Numbers of 16-17 significant digits (the shortest text of random doubles): each takes the exact check's slow path.
    const rng = random(7000);
    const numbers: string[] = [];
    let numbersBytes = 0;
    while (numbersBytes < MAX_BODY_BYTES - 2048 && numbers.length < MAX_REQUEST_STRUCTURE - 1000) {
      const number = String(rng.next() * 1000);
      numbers.push(number);
      numbersBytes += number.length + 1;
    }
    numbers.pop();
    add(
      'json-exact-numbers',
      `${count(numbers.length)} 17-digit numbers`,
      `dry run (admin) of a document of ${count(numbers.length)} numbers of 16-17 significant digits, each checked for exactness: then refused by size`,
      graphqlPost(dryRunWithConfigText(`{"n":[${numbers.join(',')}]}`)),
    );
    const escapes = Math.floor((MAX_BODY_BYTES - 2048) / 6);
    add(
      'json-unicode-escapes',
      '1 MiB of \\u0041 escapes',
      `dry run (admin) of one string written as ${count(escapes)} \\u0041 escapes: ${kib(escapes)} once parsed, then checked and diffed`,
      graphqlPost(dryRunWithConfigText(`{"v":"${'\\u0041'.repeat(escapes)}"}`)),
    );
    return { inputs, notes: [`the request limits: ${kib(MAX_BODY_BYTES)} bodies, ${count(MAX_REQUEST_STRUCTURE)} members and elements, ${MAX_REQUEST_NESTING} levels`] };
  },
};

// ---------------------------------------------------------------------------------------------------
// graphql: documents at the parser's and validation's limits, and many aliases

/** A document built anew for every request (a new operation name), so that no cache helps. */
const freshDocuments = (build: (name: string) => string, headers: Record<string, string>) => (sequence: number) =>
  graphqlPost(JSON.stringify({ query: build(`Q${sequence}x${Date.now().toString(36)}`) }), headers);

const ALIASES = 20;
const BIG_SERVICE = 'abuse-big';

const graphqlGroup: InputGroup = {
  name: 'graphql',
  async prepare(context) {
    await ensureConfig(context, SECRET_SERVICE, { name: 'abuse' });
    await ensureConfig(context, BIG_SERVICE, distinctMembers(8000, (rng) => rng.text(16, LOWER_DIGITS)));
    const inputs: HostileInput[] = [];
    const add = (id: string, label: string, detail: string, next: (sequence: number) => HttpRequestSpec) => {
      inputs.push({ id, label, detail: `${detail} (${kib(next(0).body!.length)})`, attack: http(context.attackers, next) });
    };
    add('graphql-deep', 'document nested 2,000 deep', 'anonymous: a selection set nested 2,000 deep, new each request', freshDocuments((name) => `query ${name} ${'{ a '.repeat(2000)}${'}'.repeat(2000)}`, ANONYMOUS_JSON));
    // Documents just under the token limit, each kind costing the parser or validation most per token.
    const typenames = MAX_DOCUMENT_TOKENS - 10;
    add('graphql-typenames', `${count(typenames)} x __typename`, `anonymous: ${count(typenames)} __typename fields in one selection (${count(MAX_DOCUMENT_TOKENS)} tokens), new each request`, freshDocuments((name) => `query ${name} { ${'__typename '.repeat(typenames)}}`, ANONYMOUS_JSON));
    const spreads = Math.floor((MAX_DOCUMENT_TOKENS - 20) / 2);
    add(
      'graphql-fragments',
      `${count(spreads)} fragment spreads`,
      `anonymous: ${count(spreads)} spreads of one fragment (${count(MAX_DOCUMENT_TOKENS)} tokens), new each request`,
      freshDocuments((name) => `query ${name} { ${'...F '.repeat(spreads)}} fragment F on Query { __typename }`, ANONYMOUS_JSON),
    );
    const conflicts = Math.floor((MAX_DOCUMENT_TOKENS - 10) / 9);
    add(
      'graphql-conflicts',
      `${count(conflicts)} conflicting fields`,
      `anonymous: ${count(conflicts)} config fields with different arguments under one response name (${count(MAX_DOCUMENT_TOKENS)} tokens): every pair conflicts, new each request`,
      freshDocuments((name) => `query ${name} { ${Array.from({ length: conflicts }, (_, index) => `config(service: "s${index}") { __typename }`).join(' ')} }`, ANONYMOUS_JSON),
    );
    const variables = Math.floor((MAX_DOCUMENT_TOKENS - 10) / 4);
    add(
      'graphql-variables',
      `${count(variables)} variable definitions`,
      `anonymous: ${count(variables)} variable definitions (${count(MAX_DOCUMENT_TOKENS)} tokens), new each request`,
      freshDocuments((name) => `query ${name}(${Array.from({ length: variables }, (_, index) => `$v${index}: Int`).join(' ')}) { __typename }`, ANONYMOUS_JSON),
    );
    const unusedKeys = Math.floor((MAX_REQUEST_STRUCTURE - 200) / 2);
    const unusedLength = Math.floor((MAX_BODY_BYTES - 4096) / unusedKeys) - 5;
    const unused = Array.from({ length: unusedKeys }, (_, index) => `"${index.toString(36).padStart(unusedLength, 'v')}":0`).join(',');
    const hugeVariables = graphqlPost(`{"query":${JSON.stringify(READ_QUERY)},"variables":{${unused}}}`);
    add('graphql-huge-variables', `${count(unusedKeys)} unused variables`, `admin: the honest read with ${count(unusedKeys)} unused variables filling the body`, inTurn([hugeVariables]));
    const aliasesRead = `query AbuseAliases { ${Array.from({ length: ALIASES }, (_, index) => `c${index}: config(service: "${BIG_SERVICE}") { ... on ServiceConfig { config } }`).join(' ')} }`;
    add('graphql-aliases-read', `${ALIASES} aliases x 256 KiB config`, `admin: ${ALIASES} aliases each reading a 256 KiB config`, inTurn([graphqlPost(JSON.stringify({ query: aliasesRead }))]));
    return { inputs, notes: [] };
  },
};

// ---------------------------------------------------------------------------------------------------
// graphiql: a crowd of browsers opening GraphiQL

const GRAPHIQL_CONNECTIONS = 40;

const graphiqlGroup: InputGroup = {
  name: 'graphiql',
  async prepare(context) {
    const page = await fetch(`${context.baseUrl}/graphql`, { headers: { accept: 'text/html' }, signal: AbortSignal.timeout(30_000) });
    const html = await page.text();
    const assets = [...new Set(html.match(/\/graphiql\/[a-z-]+\.[0-9a-f]{16}\.(?:js|css|svg)/g) ?? [])];
    if (assets.length === 0) throw new Error(`the GraphiQL page (${page.status}) names no assets`);
    const sizes: string[] = [];
    for (const asset of assets) {
      const response = await fetch(`${context.baseUrl}${asset}`, { headers: { 'accept-encoding': 'identity' } });
      sizes.push(`${asset.split('/').pop()} ${kib((await response.arrayBuffer()).byteLength)}`);
    }
    const get = (path: string, headers: Record<string, string>): HttpRequestSpec => ({ method: 'GET', path, headers });
    return {
      inputs: [
        {
          id: 'graphiql-page',
          label: `GraphiQL page x ${GRAPHIQL_CONNECTIONS}`,
          detail: `${GRAPHIQL_CONNECTIONS} connections: GET /graphql with accept: text/html (anonymous)`,
          attack: http(GRAPHIQL_CONNECTIONS, inTurn([get('/graphql', { accept: 'text/html' })])),
        },
        {
          id: 'graphiql-assets-compressed',
          label: `GraphiQL assets, br/gzip x ${GRAPHIQL_CONNECTIONS}`,
          detail: `${GRAPHIQL_CONNECTIONS} connections: the page's ${assets.length} assets in turn, accept-encoding: br, gzip`,
          attack: http(GRAPHIQL_CONNECTIONS, inTurn(assets.map((asset) => get(asset, { 'accept-encoding': 'br, gzip' })))),
        },
        {
          id: 'graphiql-assets-identity',
          label: `GraphiQL assets, identity x ${GRAPHIQL_CONNECTIONS}`,
          detail: `${GRAPHIQL_CONNECTIONS} connections: the page's ${assets.length} assets in turn, no accept-encoding`,
          attack: http(GRAPHIQL_CONNECTIONS, inTurn(assets.map((asset) => get(asset, {})))),
        },
      ],
      notes: [`GraphiQL assets: ${sizes.join(', ')}`],
    };
  },
};

// ---------------------------------------------------------------------------------------------------
// ws: graphql-ws messages at and over the limit, and bursts of operations

const subscribeMessage = (id: string, payload: string) => `{"id":${JSON.stringify(id)},"type":"subscribe","payload":${payload}}`;

/** Opens a socket, runs `loop` while the phase lasts, closes it; a refused or broken socket is an outcome. */
function socketSession(loop: (socket: GraphQLSocket, record: (outcome: string, bytes: number, startedAt: number) => void) => Promise<void>): WebSocketSession {
  return async ({ url, running, record }) => {
    while (running()) {
      const startedAt = performance.now();
      let socket: GraphQLSocket;
      try {
        socket = await GraphQLSocket.open(url, ADMIN_AUTHORIZATION);
      } catch (error) {
        record(`open failed: ${(error as Error).message.slice(0, 60)}`, 0, startedAt);
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      try {
        while (running() && socket.socket.readyState === socket.socket.OPEN) await loop(socket, record);
      } finally {
        await socket.close();
      }
    }
  };
}

const OPERATION_BURST = 150;

const wsGroup: InputGroup = {
  name: 'ws',
  async prepare(context) {
    await ensureConfig(context, SECRET_SERVICE, { name: 'abuse' });
    // A dry run whose message is just under the 1 MiB limit: one string that fills it (refused by size once parsed).
    const underPayload = JSON.stringify({ query: DRY_RUN, variables: { input: { service: SECRET_SERVICE, dryRun: true, config: { v: '' } } } });
    const underFill = MAX_BODY_BYTES - 256 - underPayload.length;
    const under = underPayload.replace('"v":""', `"v":"${'x'.repeat(underFill)}"`);
    const over = underPayload.replace('"v":""', `"v":"${'x'.repeat(MAX_BODY_BYTES + 1024 - underPayload.length)}"`);
    const subscription = JSON.stringify({ query: `subscription AbuseBurst { configChanged(service: "${SECRET_SERVICE}") { version } }` });
    return {
      inputs: [
        {
          id: 'ws-under-limit',
          label: 'WebSocket message just under 1 MiB',
          detail: `graphql-ws subscribe (admin) of a dry run carrying a ${kib(underFill)} string: ${kib(subscribeMessage('1', under).length)} messages, one at a time per socket`,
          attack: {
            kind: 'ws',
            connections: context.attackers,
            session: socketSession(async (socket, record) => {
              const id = socket.newId();
              const text = subscribeMessage(id, under);
              const startedAt = performance.now();
              record(wsOutcomeOf(await socket.sendFor(id, text)), text.length, startedAt);
            }),
          },
        },
        {
          id: 'ws-over-limit',
          label: 'WebSocket message over 1 MiB',
          detail: `a ${kib(subscribeMessage('1', over).length)} graphql-ws message on a fresh admin socket: the server should close it (1009)`,
          attack: {
            kind: 'ws',
            connections: context.attackers,
            session: socketSession(async (socket, record) => {
              const text = subscribeMessage(socket.newId(), over);
              const startedAt = performance.now();
              socket.send(text);
              record(`close ${await socket.closed}`, text.length, startedAt);
            }),
          },
        },
        {
          id: 'ws-operation-bursts',
          label: `WebSocket bursts of ${OPERATION_BURST} subscribes`,
          detail: `${OPERATION_BURST} subscribes at once on one admin socket (over the per-socket limit), then as many completes, then a ping`,
          attack: {
            kind: 'ws',
            connections: context.attackers,
            session: socketSession(async (socket, record) => {
              const startedAt = performance.now();
              const errors = new Map<string, string>();
              const stopListening = socket.listen((message) => {
                if (message.type === 'error' && message.id !== undefined) errors.set(message.id, wsOutcomeOf(message));
              });
              const ids = Array.from({ length: OPERATION_BURST }, () => socket.newId());
              let bytes = 0;
              for (const id of ids) {
                const text = subscribeMessage(id, subscription);
                bytes += text.length;
                socket.send(text);
              }
              for (const id of ids) socket.send(JSON.stringify({ id, type: 'complete' }));
              const pong = socket.next((message) => message.type === 'pong');
              socket.send(JSON.stringify({ type: 'ping' }));
              const answer = await pong;
              stopListening();
              for (const id of ids) record(answer.type !== 'pong' ? answer.type : (errors.get(id) ?? 'subscribed'), bytes / ids.length, startedAt);
            }),
          },
        },
      ],
      notes: [],
    };
  },
};

// ---------------------------------------------------------------------------------------------------
// history: pages of a long history of large documents

/**
 * Versions of the history config (BENCH_HISTORY_VERSIONS). A configHistory page holds up to 100 (Pothos
 * relay's default maximum) and a REST page up to 500; 20 keep the default run short, and already take
 * seconds a request.
 */
const HISTORY_VERSIONS = Math.min(500, Math.max(2, Number.parseInt(process.env.BENCH_HISTORY_VERSIONS || '20', 10) || 20));
/** What one configHistory page may ask for. */
const HISTORY_PAGE = 100;
const HISTORY_SERVICE = 'abuse-history';
/** The most patch operations one answer may carry: a diff's page, a replayed event's. */
const MAX_PATCH = 1000;
/** Patch operations of each change on a history page, so that the page's fit in one answer. */
const PAGE_PATCH = MAX_PATCH / HISTORY_PAGE;

/** Version `version` of the history config: every value changes from one version to the next. */
function historyDocument(version: number): Record<string, unknown> {
  const settings: Record<string, string> = {};
  const document = { version, settings };
  let bytes = documentBytes(document);
  for (let index = 0; ; index++) {
    const key = `s${index}`;
    const value = `value-${index}-v${version}`;
    const added = key.length + value.length + 6;
    if (bytes + added > MAX_DOCUMENT_BYTES - 64) break;
    settings[key] = value;
    bytes += added;
  }
  return withinLimit(document, `history version ${version}`);
}

const historyGroup: InputGroup = {
  name: 'history',
  async prepare(context) {
    const { config } = await context.graphql<{ config: { __typename: string; version?: number } }>(
      `query { config(service: "${HISTORY_SERVICE}") { __typename ... on ServiceConfig { version } } }`,
    );
    let version = config.__typename === 'ServiceConfig' ? config.version! : 0;
    const started = performance.now();
    if (version === 0) {
      await ensureConfig(context, HISTORY_SERVICE, historyDocument(1));
      version = 1;
    }
    for (; version < HISTORY_VERSIONS; version++) {
      const { updateConfig } = await context.graphql<{ updateConfig: { __typename: string; message?: string } }>(UPDATE, {
        input: { service: HISTORY_SERVICE, config: historyDocument(version + 1), reason: 'bench:abuse history' },
      });
      if (updateConfig.__typename !== 'ConfigWrite') throw new Error(`writing the history failed: ${JSON.stringify(updateConfig)}`);
    }
    const settingsCount = Object.keys(historyDocument(1).settings as object).length;
    const note = `${HISTORY_SERVICE}: ${HISTORY_VERSIONS} versions of ${kib(documentBytes(historyDocument(1)))} (${count(settingsCount)} settings, every one changed by every version), written in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    const page = `query AbuseHistory { configHistory(service: "${HISTORY_SERVICE}", first: ${HISTORY_PAGE}) { edges { node { version oldConfig newConfig patch(limit: ${PAGE_PATCH}) { op path value } } } } }`;
    const diff = `query AbuseDiff { configDiff(service: "${HISTORY_SERVICE}", fromVersion: 1, toVersion: ${HISTORY_VERSIONS}) { __typename ... on ConfigDiff { operations(limit: ${MAX_PATCH}) { op path value } } ... on Error { message } } }`;
    const replay = JSON.stringify({ query: `subscription AbuseReplay { configChanged(service: "${HISTORY_SERVICE}", afterVersion: 0) { version config patch(limit: ${MAX_PATCH}) { op path value } } }` });
    return {
      notes: [note],
      inputs: [
        {
          id: 'history-page',
          label: `configHistory first: ${HISTORY_PAGE}`,
          detail: `admin: configHistory(first: ${HISTORY_PAGE}) of a config with ${HISTORY_VERSIONS} versions, with oldConfig, newConfig and ${PAGE_PATCH} patch operations each`,
          attack: http(context.attackers, inTurn([graphqlPost(JSON.stringify({ query: page }))])),
        },
        {
          id: 'history-rest',
          label: 'REST history limit=500',
          detail: `admin: GET /api/v1/config/history/${HISTORY_SERVICE}?limit=500 (the REST limit; the config has ${HISTORY_VERSIONS})`,
          attack: http(context.attackers, inTurn([{ method: 'GET', path: `/api/v1/config/history/${HISTORY_SERVICE}?limit=500`, headers: { ...benchAuth } }])),
        },
        {
          id: 'history-diff',
          label: `configDiff 1 -> ${HISTORY_VERSIONS}, ${MAX_PATCH} operations`,
          detail: `admin: a page of ${MAX_PATCH} operations (the most an answer carries) of the RFC 6902 diff between versions 1 and ${HISTORY_VERSIONS} (${count(settingsCount)} replaced values)`,
          attack: http(context.attackers, inTurn([graphqlPost(JSON.stringify({ query: diff }))])),
        },
        {
          id: 'history-replay',
          label: `subscription replaying ${HISTORY_VERSIONS} versions`,
          detail: `graphql-ws (admin): configChanged(afterVersion: 0), every version replayed with config and ${MAX_PATCH} patch operations, then complete`,
          attack: {
            kind: 'ws',
            connections: context.attackers,
            session: socketSession(async (socket, record) => {
              const id = socket.newId();
              const startedAt = performance.now();
              const replayed = socket.collect(id, HISTORY_VERSIONS);
              socket.send(subscribeMessage(id, replay));
              const { nexts, ending } = await replayed;
              socket.send(JSON.stringify({ id, type: 'complete' }));
              record(nexts === HISTORY_VERSIONS ? `next x${nexts}` : `${wsOutcomeOf(ending)} after ${nexts}`, replay.length, startedAt);
            }),
          },
        },
      ],
    };
  },
};

// ---------------------------------------------------------------------------------------------------
// extra: other roads to the same work

const extraGroup: InputGroup = {
  name: 'extra',
  async prepare(context) {
    await ensureConfig(context, SECRET_SERVICE, { name: 'abuse' });
    const misses = Array.from({ length: VARIANTS }, (_, variant) =>
      withinLimit(distinctMembers(2000 + variant, (rng, i) => NEAR_MISSES[i % NEAR_MISSES.length]!(rng)), 'near misses'),
    );
    const aliases = `mutation AbuseAliasDryRuns($config: JSON) { ${Array.from(
      { length: ALIASES },
      (_, index) => `u${index}: updateConfig(input: { service: "${SECRET_SERVICE}", config: $config, dryRun: true }) { __typename }`,
    ).join(' ')} }`;
    // Near misses are never remembered as clean, so every alias checks them afresh; distinct clean strings
    // pass the guard, so that a create reaches the database and a REST dry run computes its diff.
    const distinct = Array.from({ length: VARIANTS }, (_, variant) => withinLimit(distinctMembers(1000 + variant, (rng) => rng.text(16, BASE64URL)), 'distinct'));
    const aliasBodies = misses.map((config) => graphqlPost(JSON.stringify({ query: aliases, variables: { config } })));
    const createBodies = distinct.map((config) => graphqlPost(JSON.stringify({ query: CREATE, variables: { input: { service: SECRET_SERVICE, config } } })));
    const restBodies = distinct.map((config): HttpRequestSpec => ({
      method: 'POST',
      path: `/api/v1/config/${SECRET_SERVICE}?dryRun=true`,
      headers: { 'content-type': 'application/merge-patch+json', ...benchAuth },
      body: Buffer.from(JSON.stringify(config)),
    }));
    // What these documents are answered, for the report.
    const answers = [`aliases: ${await sendHttp(context.baseUrl, aliasBodies[0]!)}`, `create: ${await sendHttp(context.baseUrl, createBodies[0]!)}`, `REST: ${await sendHttp(context.baseUrl, restBodies[0]!)}`];
    return {
      notes: [`one request of each answered ${answers.join(', ')}`],
      inputs: [
        {
          id: 'extra-alias-dry-runs',
          label: `${ALIASES} aliased dry runs of 256 KiB`,
          detail: `admin: one mutation with ${ALIASES} aliased dry-run updateConfigs of the same 256 KiB near-miss document (${kib(aliasBodies[0]!.body!.length)})`,
          attack: http(context.attackers, inTurn(aliasBodies)),
        },
        {
          id: 'extra-create-existing',
          label: 'createConfig 256 KiB, existing service',
          detail: `admin: createConfig of a 256 KiB document of distinct random strings for a service that exists: checked in full, sent to the database, refused there (${kib(createBodies[0]!.body!.length)})`,
          attack: http(context.attackers, inTurn(createBodies)),
        },
        {
          id: 'extra-rest-dry-run',
          label: 'REST merge patch 256 KiB, dry run',
          detail: `admin: POST /api/v1/config/${SECRET_SERVICE}?dryRun=true with a 256 KiB merge patch of distinct random strings (REST always answers the diff)`,
          attack: http(context.attackers, inTurn(restBodies)),
        },
      ],
    };
  },
};

export const INPUT_GROUPS: InputGroup[] = [secretGroup, schemaGroup, jsonGroup, graphqlGroup, graphiqlGroup, wsGroup, historyGroup, extraGroup];
