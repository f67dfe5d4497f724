// Random GraphQL operations over the whole schema, for differential tests: the same document, run with
// several variable sets, must give the same `data` and `errors` on the gateway's fast paths and on stock
// graphql-yoga. The generator walks the GraphQLSchema (fields, arguments, input objects, enums, unions,
// interfaces), so fields added later are covered without touching it; a small table of hints per
// argument name steers values toward what exists (DomainValues) and, rarely, toward what does not.
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import fc, { type GeneratorValue } from 'fast-check';
import {
  type DocumentNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLInputObjectType,
  type GraphQLInputType,
  type GraphQLLeafType,
  type GraphQLNamedType,
  GraphQLNonNull,
  type GraphQLObjectType,
  type GraphQLSchema,
  Kind,
  type OperationDefinitionNode,
  type OperationTypeNode,
  type SelectionNode,
  TypeInfo,
  type ValidationRule,
  doTypesOverlap,
  getNamedType,
  getNullableType,
  isAbstractType,
  isCompositeType,
  isEnumType,
  isInputObjectType,
  isInterfaceType,
  isLeafType,
  isListType,
  isNonNullType,
  isObjectType,
  isUnionType,
  parse,
  parseType,
  print,
  typeFromAST,
  validate,
  visit,
  visitWithTypeInfo,
} from 'graphql';

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type OperationKind = 'query' | 'mutation' | 'subscription';

/**
 * What a generated document is meant to be. `valid` documents parse, validate against the schema and
 * stay within the server's limits; `overLimit` ones validate against the schema but cross one of the
 * server's limits (depth 12, 20 aliases, 5,000 tokens, cost 5,000); `validationError` ones parse but do
 * not validate (unknown field, missing required argument, undefined variable, unknown fragment);
 * `syntaxError` ones do not parse.
 */
export type OperationIntent = 'valid' | 'overLimit' | 'validationError' | 'syntaxError';

export interface GeneratedOperation {
  /** The document text (may hold several operations and fragments). */
  query: string;
  /** The operation to run: always set when the document holds several, sometimes when it holds one. */
  operationName?: string;
  /** The kind of the operation to run. */
  kind: OperationKind;
  /**
   * Three to five variable sets to run the SAME document with, in order. The first gives every
   * variable a value; later ones differ, omit optional variables (the second leans that way), pass null
   * (the third leans that way) and, now and then, give one variable a value of the wrong type or null
   * where it is non-null (a request error).
   */
  variableSets: Record<string, unknown>[];
  /** What the document is meant to be: most are `valid`. */
  intent: OperationIntent;
}

/** Values to pick from: mostly `common` (what exists, so that operations succeed), sometimes `rare`. */
export interface Pool<T> {
  common: readonly T[];
  /** Unknown, invalid or extreme values: picked about one time in seven. */
  rare: readonly T[];
}

/**
 * The domain values generated inputs are drawn from, by argument or input field name (see `HINTS`).
 * Give the harness's own (the services it seeded, the ids it knows) to steer operations toward rows
 * that exist; values of no hint come from the pools by type (`texts` for strings, `nodeIds` for IDs...).
 */
export interface DomainValues {
  /** `service`: existing, creatable, unknown and invalid service names. */
  services: Pool<string>;
  /** Items of `services` lists (token scopes, subscription filters): names and globs. */
  serviceGlobs: Pool<string>;
  /** `environment` and items of `environments`. */
  environments: Pool<string>;
  /** `version`, `toVersion`, `fromVersion`, `afterVersion`, `expectedVersion`, `appliedVersion`, `rejectedVersion`. */
  versions: Pool<number>;
  /** `first`, `last`. Literals above 5 are never written (they multiply the query's cost); variables take any. */
  pageSizes: Pool<number>;
  /** `after`, `before`: see `prismaCursor`. */
  cursors: Pool<string>;
  /** `id` and items of `ids`, and any other ID: see `globalId`. */
  nodeIds: Pool<string>;
  /** `name` (createToken, revokeToken). */
  tokenNames: Pool<string>;
  /** `instance` (reportInstance). */
  instances: Pool<string>;
  /** `reason`, `description`, `error`, `nameContains` and any other string. */
  texts: Pool<string>;
  /** `expiresAt` and any other DateTime; rare ones may be invalid (they only ever go in variables then). */
  dateTimes: Pool<string>;
  /** Whole documents for `config`: used as they are, altered, or as a model for random ones. */
  configDocuments: readonly JsonObject[];
  /** `schema` (setConfigSchema): JSON Schemas; rare ones break the pilot configs (and are refused). */
  configSchemas: Pool<JsonObject>;
  /** Member names of generated JSON documents and merge patches. */
  jsonKeys: {
    /** Keys whose value is an object. */
    sections: readonly string[];
    /** Keys of settings. */
    settings: readonly string[];
    /** Secret-shaped, non-name or prototype-shaped keys, used one time in twenty. */
    rare: readonly string[];
  };
  /** Setting values in generated JSON documents and patches (rare: null deletes in a patch). */
  jsonLeaves: Pool<Json>;
}

/** A Relay global ID as @pothos/plugin-relay encodes it: base64 of `${typename}:${id}`. */
export const globalId = (typename: string, id: string | number) => Buffer.from(`${typename}:${id}`).toString('base64');

/**
 * A connection cursor as @pothos/plugin-prisma encodes it: base64 of `GPC:` and a tagged value (`N:` a
 * number, as configs' ids; `I:` a bigint, as changes' revisions).
 */
export const prismaCursor = (tag: 'N' | 'I' | 'S', value: string | number) => Buffer.from(`GPC:${tag}:${value}`).toString('base64');

const base64 = (text: string) => Buffer.from(text).toString('base64');
const A_JWT = 'eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U';

/** The pilot services of the seed, a creatable one and a handful of unknown or invalid ones. */
export const defaultDomainValues: DomainValues = {
  services: {
    common: ['polygon-historical-downloader', 'polygon-live-collector', 'tick-aggregator', 'differential-open'],
    rare: ['nope', 'Bad Name', '', 'x'.repeat(129)],
  },
  serviceGlobs: { common: ['polygon-*', 'tick-aggregator', '*'], rare: ['nope', '', '[unclosed'] },
  environments: { common: ['production', 'staging'], rare: ['', 'Bad Env', 'nope'] },
  versions: { common: [1, 2, 3, 0, 4, 5, 6], rare: [-1, 1_000, 2_147_483_647, -2_147_483_648] },
  pageSizes: { common: [1, 2, 3, 5], rare: [0, -1, 100, 1_000] },
  cursors: {
    common: [prismaCursor('N', 1), prismaCursor('N', 2), prismaCursor('I', 1), prismaCursor('I', 3)],
    rare: ['garbage', '', prismaCursor('S', 'x'), prismaCursor('N', 'abc'), base64('GPC:')],
  },
  nodeIds: {
    common: [globalId('ServiceConfig', 1), globalId('ServiceConfig', 2), globalId('ServiceConfig', 3)],
    rare: [globalId('ServiceConfig', 999), globalId('ConfigChange', 1), globalId('ServiceConfig', 'x'), 'garbage', '', base64('no colon')],
  },
  tokenNames: { common: ['differential-reader', 'differential-editor'], rare: ['', 'Bad Name', 'x'.repeat(300)] },
  instances: { common: ['host-a:101', 'host-b:202'], rare: ['', 'x'.repeat(300)] },
  texts: {
    common: ['differential run', 'nightly tuning', 'polygon'],
    rare: ['', 'ünïcödé ✓', 'two\nlines', 'quote " and \\ backslash'],
  },
  dateTimes: {
    common: ['2099-01-01T00:00:00Z', '2030-06-15T12:30:00.000Z'],
    rare: ['2000-01-01T00:00:00Z', 'not-a-date', '2024-02-30T00:00:00Z'],
  },
  configDocuments: [
    {
      operational: { gap_check_interval_hours: 6, batch_size: 5_000, max_concurrent_requests: 8, retry_attempts: 5 },
      features: { enable_gap_filling: true, enable_options_data: false },
      business: { symbols_universe: 'sp500', timeframes: ['1m', '5m', '1h', '1d'] },
    },
    {
      operational: { buffer_flush_interval_ms: 250, write_batch_size: 2_000 },
      features: { enable_quotes: true, enable_trades: true },
      business: { subscribed_symbols: ['SPY', 'QQQ'], market_hours_only: true },
    },
    {
      operational: { aggregation_window_ms: 1_000, worker_threads: 4 },
      features: { enable_vwap: true },
      business: { bar_intervals: ['1s', '1m'], outlier_stddev_threshold: 6.5, min_trade_size: 1 },
    },
    { operational: { batch_size: 100, workers: 4 } },
    {},
  ],
  configSchemas: {
    common: [
      { type: 'object' },
      { type: 'object', properties: { operational: { type: 'object', properties: { batch_size: { type: 'integer', minimum: 1 } } } } },
      { type: 'object', properties: { notes: { type: 'string', description: 'Free text', default: '' } } },
    ],
    rare: [
      { type: 'object', required: ['nope'] },
      { type: 'object', additionalProperties: false },
      { type: 'array' },
      { type: 'object', properties: { operational: { type: 'string' } } },
    ],
  },
  jsonKeys: {
    sections: ['operational', 'features', 'business'],
    settings: ['batch_size', 'workers', 'worker_threads', 'retry_attempts', 'enable_vwap', 'enable_quotes', 'timeframes', 'notes'],
    rare: ['db_password', 'client.secret', '__proto__', 'with space'],
  },
  jsonLeaves: {
    common: [1, 4, 100, 5_000, true, false, 'sp500', '1m', 'SPY', ['1m', '5m'], [1, 2, 3]],
    rare: [null, -5, 1.5, 1e21, '', 'ünïcödé', A_JWT],
  },
};

/** The server's limits (graphql-armor in src/server/graphql/yoga.ts): beyond them a document is refused. */
export const SERVER_LIMITS = { depth: 12, aliases: 20, tokens: 5_000, cost: 5_000 } as const;

export interface OperationArbitraryOptions {
  /** The kinds of operation to run. @default ['query', 'mutation'] */
  kinds?: readonly OperationKind[];
  /** The deepest field of a valid document (root fields are at depth 1; the server refuses beyond 12). @default 8 */
  maxDepth?: number;
  /** The most aliases in a valid document (the server refuses beyond 20). @default 12 */
  maxAliases?: number;
}

/**
 * GraphQL operations over `schema`, each with three to five variable sets to run it with.
 *
 * Across samples: every root field of the chosen kinds; selections of scalars, objects, lists,
 * connections, unions and interfaces (inline fragments, named fragments used once or twice,
 * `__typename`); aliases (a field twice with different arguments); `@include`/`@skip` with literals and
 * variables; arguments as literals and as variables at every position (top level, input object fields,
 * list items, and inside JSON/JSONObject literals at any depth), variables with defaults, omitted, null
 * or of the wrong type; now and then two operations and an `operationName`. About 3% of documents are
 * invalid (`intent` says how) and 2% cross a server limit. Deterministic for a given fast-check seed;
 * shrinks through `fc.gen()`.
 */
export function operationArbitrary(
  schema: GraphQLSchema,
  values: DomainValues = defaultDomainValues,
  options: OperationArbitraryOptions = {},
): fc.Arbitrary<GeneratedOperation> {
  const kinds = options.kinds ?? ['query', 'mutation'];
  for (const kind of kinds) if (!rootType(schema, kind)) throw new Error(`the schema has no ${kind} type`);
  if (kinds.length === 0) throw new Error('kinds must name at least one kind of operation');
  const settings = { kinds, maxDepth: options.maxDepth ?? 8, maxAliases: options.maxAliases ?? 12 };
  return fc.gen().map((g) => readable(new DocumentWriter(schema, values, settings, new Draw(g)).write()));
}

/** Shown by fast-check in a counterexample: the document printed over lines, then the variable sets. */
function readable(operation: GeneratedOperation): GeneratedOperation {
  const toString = () => {
    const query = operation.intent === 'valid' ? print(parse(operation.query)) : operation.query;
    const { query: _query, ...rest } = operation;
    return `${query}\n${JSON.stringify(rest, null, 2)}`;
  };
  // Not enumerable: equality (toEqual) and JSON ignore it.
  return Object.defineProperty(operation, fc.toStringMethod, { value: toString, enumerable: false });
}

// ---------------------------------------------------------------------------------------------------
// Hints: domain values by argument or input field name, and how often an optional one is given.

type PoolOf = (values: DomainValues) => Pool<unknown>;
const versions: PoolOf = (values) => values.versions;

/** Argument and input field names whose values come from a domain pool (list items use the list's name). */
const HINTS: Record<string, PoolOf> = {
  service: (values) => values.services,
  services: (values) => values.serviceGlobs,
  environment: (values) => values.environments,
  environments: (values) => values.environments,
  version: versions,
  toVersion: versions,
  fromVersion: versions,
  afterVersion: versions,
  expectedVersion: versions,
  appliedVersion: versions,
  rejectedVersion: versions,
  first: (values) => values.pageSizes,
  last: (values) => values.pageSizes,
  after: (values) => values.cursors,
  before: (values) => values.cursors,
  id: (values) => values.nodeIds,
  ids: (values) => values.nodeIds,
  name: (values) => values.tokenNames,
  instance: (values) => values.instances,
  expiresAt: (values) => values.dateTimes,
  dryRun: () => ({ common: [true], rare: [false] }),
};

/** How often an optional argument or input field is given (0.45 when not listed). */
const INCLUSION: Record<string, number> = {
  dryRun: 0.85,
  environment: 0.6,
  expectedVersion: 0.3,
  first: 0.55,
  after: 0.2,
  last: 0.12,
  before: 0.1,
  afterVersion: 0.4,
  description: 0.25,
};

const inclusion = (name: string) => (Object.hasOwn(INCLUSION, name) ? INCLUSION[name]! : 0.45);

/** Optional input fields of which one is given: both or neither (a ValidationError) one time in ten. */
const ONE_OF: readonly (readonly string[])[] = [['patch', 'config']];

/** Arguments whose literal value multiplies the query's cost (graphql-armor cost limit). */
const COST_MULTIPLIERS = new Set(['first', 'last']);
const MAX_MULTIPLIER_LITERAL = 5;

/** Values by scalar, when no hint applies. */
function poolOfScalar(values: DomainValues, scalar: string): Pool<unknown> {
  switch (scalar) {
    case 'Int':
      return { common: [0, 1, 2, 3, 5, 10], rare: [-1, 2_147_483_647, -2_147_483_648] };
    case 'Float':
      return { common: [0, 1.5, 10], rare: [-0.5, 1e21] };
    case 'SafeInt':
      return { common: [0, 1, 42], rare: [9_007_199_254_740_991, -9_007_199_254_740_991] };
    case 'Boolean':
      return { common: [true, false], rare: [] };
    case 'ID':
      return values.nodeIds;
    case 'DateTime':
      return values.dateTimes;
    default:
      return values.texts;
  }
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const isInt32 = (value: unknown): value is number => Number.isInteger(value) && (value as number) >= -(2 ** 31) && (value as number) < 2 ** 31;

/**
 * Whether `value` is one the scalar takes. `strict`: as a literal, where a bad value makes the document
 * invalid (graphql-scalars' DateTime checks dates; the printed schema's scalars check nothing).
 */
function fitsScalar(scalar: string, value: unknown, strict: boolean): boolean {
  switch (scalar) {
    case 'Int':
      return isInt32(value);
    case 'Float':
      return typeof value === 'number' && Number.isFinite(value);
    case 'SafeInt':
      return Number.isSafeInteger(value);
    case 'Boolean':
      return typeof value === 'boolean';
    case 'ID':
      return typeof value === 'string' || isInt32(value);
    case 'DateTime':
      return typeof value === 'string' && (!strict || (RFC3339.test(value) && !Number.isNaN(Date.parse(value)) && new Date(value).toISOString().slice(0, 10) === value.slice(0, 10)));
    default:
      return typeof value === 'string';
  }
}

/** Values of the wrong type for a scalar (a variable coercion error). */
function wrongScalarValues(scalar: string): readonly unknown[] {
  switch (scalar) {
    case 'Int':
      return ['5', 1.5, 2_147_483_648, true];
    case 'Float':
      return ['1.5', true, { value: 1 }];
    case 'SafeInt':
      return [2 ** 53 + 2, 1.5, '1'];
    case 'Boolean':
      return ['true', 1];
    case 'ID':
      return [true, 1.5, { id: 1 }];
    case 'DateTime':
      return ['yesterday', '2024-02-30T25:00:00Z', true];
    case 'JSONObject':
      return [[1, 2], 'x', 5];
    case 'JSON':
      return [];
    default:
      return [5, true, { a: 1 }, ['x']];
  }
}

/** Fragments within fragments, within one field's selection set (more would only repeat the same fields). */
const MAX_FRAGMENT_NESTING = 2;

const JSON_SCALARS = new Set(['JSON', 'JSONObject']);
const NAME = /^[_A-Za-z][_0-9A-Za-z]*$/;

// ---------------------------------------------------------------------------------------------------
// Random choices, recorded through fc.gen() so that they replay and shrink.

/**
 * Integers without fast-check's bias toward the bounds, so that probabilities mean what they say. A
 * builder at module level: fc.gen() caches arbitraries by builder and arguments, and replays by identity.
 */
const unbiasedInteger = (min: number, max: number) => fc.noBias(fc.integer({ min, max }));

class Draw {
  constructor(private readonly g: GeneratorValue) {}

  int(min: number, max: number): number {
    return min >= max ? min : this.g(unbiasedInteger, min, max);
  }

  /** True with probability `p`; shrinks toward false (the feature left out). */
  chance(p: number): boolean {
    if (p <= 0) return false;
    if (p >= 1) return true;
    return this.int(0, 9_999) >= Math.round((1 - p) * 10_000);
  }

  /** One of `items`; shrinks toward the first. */
  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('nothing to pick from');
    return items[this.int(0, items.length - 1)]!;
  }

  weighted<T>(options: readonly (readonly [number, T])[]): T {
    const total = options.reduce((sum, [weight]) => sum + weight, 0);
    let ticket = this.int(0, total - 1);
    for (const [weight, value] of options) {
      if (ticket < weight) return value;
      ticket -= weight;
    }
    return options[options.length - 1]![1];
  }

  /** A value of `pool` that passes `fits`, rare ones one time in seven; undefined when none does. */
  fromPool<T>(pool: Pool<T>, fits: (value: T) => boolean = () => true): T | undefined {
    const common = pool.common.filter(fits);
    const rare = pool.rare.filter(fits);
    if (rare.length > 0 && (common.length === 0 || this.chance(1 / 7))) return this.pick(rare);
    return common.length > 0 ? this.pick(common) : undefined;
  }
}

// ---------------------------------------------------------------------------------------------------
// The writer: one document per instance.

interface Settings {
  kinds: readonly OperationKind[];
  maxDepth: number;
  maxAliases: number;
}

interface VariableSpec {
  name: string;
  /** The declared type. */
  type: GraphQLInputType;
  /** The printed default value, if any. */
  defaultValue?: string;
  /** The hint name its values are drawn by. */
  hint: string;
  /** Where it may be used again: the location's type and whether the location has a default. */
  location: string;
}

/** What an operation or fragment uses: variables directly, fragments by name. */
interface Usage {
  variables: Set<string>;
  fragments: Set<string>;
}

interface Fragment {
  name: string;
  on: GraphQLCompositeType;
  text: string;
  usage: Usage;
  /** Response names it adds to a selection set, with their signatures. */
  names: Map<string, string>;
  /** Depth of its deepest field, its own top-level fields being 1. */
  height: number;
  /** Aliases in it (graphql-armor counts them again at every spread). */
  aliases: number;
}

/**
 * The response names of one merged selection set (its fields, inline fragments and spread fragments)
 * with a signature each. A name appears once, except a leaf field without arguments requested again
 * identically: so no two fields ever merge, and OverlappingFieldsCanBeMerged holds by construction.
 */
class Scope {
  readonly names = new Map<string, string>();
  /** What was set here (not copied from an outer scope): a named fragment's own names. */
  readonly added = new Map<string, string>();

  constructor(outer?: Scope) {
    if (outer) for (const [name, signature] of outer.names) this.names.set(name, signature);
  }

  set(name: string, signature: string): void {
    this.names.set(name, signature);
    this.added.set(name, signature);
  }

  compatible(names: ReadonlyMap<string, string>): boolean {
    for (const [name, signature] of names) if (this.names.has(name) && this.names.get(name) !== signature) return false;
    return true;
  }
}

/** `omit` a variable from a set (distinct from passing undefined, which JSON drops anyway). */
const OMIT = Symbol('omit');

interface Operation {
  kind: OperationKind;
  name?: string;
  text: string;
  variables: string[];
}

class DocumentWriter {
  private readonly variables = new Map<string, VariableSpec>();
  private readonly fragments: Fragment[] = [];
  private readonly usages: Usage[] = [];
  private aliases = 0;
  private counter = 0;
  private deepest = 0;
  /** Fragments (inline or named) around the selections being written, within the nearest field. */
  private fragmentNesting = 0;
  /** Lifts limits (aliases) while writing an over-limit document. */
  private unlimited = false;

  constructor(
    private readonly schema: GraphQLSchema,
    private readonly values: DomainValues,
    private readonly settings: Settings,
    private readonly d: Draw,
  ) {}

  write(): GeneratedOperation {
    const intent = this.d.weighted<OperationIntent>([
      [950, 'valid'],
      [20, 'overLimit'],
      [15, 'validationError'],
      [15, 'syntaxError'],
    ]);
    if (intent === 'overLimit') return this.overLimit();

    const operations: Operation[] = [this.operation(this.d.pick(this.settings.kinds))];
    if (this.d.chance(0.1)) operations.push(this.operation(this.d.pick(this.settings.kinds)));
    const several = operations.length > 1;
    for (const operation of operations) if (several || this.d.chance(0.7)) operation.name = this.operationName(operation);
    const chosen = several ? this.d.pick(operations) : operations[0]!;
    const operationName = several || (chosen.name !== undefined && this.d.chance(0.3)) ? chosen.name : undefined;

    const definitions = operations.map((operation) => this.printOperation(operation));
    const fragments = this.fragments.map((fragment) => fragment.text);
    let query = (this.d.chance(0.2) ? [...fragments, ...definitions] : [...definitions, ...fragments]).join('\n');
    if (intent === 'validationError') query = this.invalidate(query, operationName);
    if (intent === 'syntaxError') query = this.breakSyntax(query);
    return {
      query,
      ...(operationName !== undefined ? { operationName } : {}),
      kind: chosen.kind,
      variableSets: this.variableSets(chosen.variables),
      // Depth, aliases and tokens stay within the limits by construction; cost (which grows 1.5-fold per
      // level and fragment, times literal `first`) is counted as the server counts it, one time in a
      // thousand it crosses.
      intent: intent === 'valid' && queryCost(this.schema, query) > SERVER_LIMITS.cost ? 'overLimit' : intent,
    };
  }

  // -- operations ------------------------------------------------------------------------------------

  private operation(kind: OperationKind, extra?: (root: GraphQLObjectType) => { field: GraphQLField<unknown, unknown>; inside: string[]; args?: string }): Operation {
    const root = rootType(this.schema, kind)!;
    const fields = Object.values(root.getFields());
    const usage = this.enter();
    const scope = new Scope();
    const selections: string[] = [];
    if (extra) {
      const { field, inside, args } = extra(root);
      selections.push(this.field(root, field, 1, scope, { subscriptionRoot: kind === 'subscription', inside, args })!);
    } else if (kind === 'subscription') {
      // One root field, no directive at the root (graphql-js refuses those it cannot evaluate).
      selections.push(this.field(root, this.d.pick(fields), 1, scope, { subscriptionRoot: true })!);
    } else {
      const count = this.d.weighted(kind === 'mutation' ? [[6, 1], [3, 2], [1, 3]] : [[5, 1], [3, 2], [2, 3]]);
      // Fields taking JSON (updateConfig's patch...) weigh more: variables inside JSON literals are the bug
      // class: together three times as likely as all the others (token, request and rollout mutations and
      // the like), however many there are.
      const takingJson = fields.filter((field) => field.args.some((arg) => takesJson(arg.type))).length;
      const jsonWeight = Math.max(1, Math.ceil((fields.length - takingJson) / Math.max(1, takingJson))) * 3;
      // Connections (paging, cursors) weigh double among the queries: a new plain root field must not
      // dilute them.
      const weights = fields.map((field) =>
        field.args.some((arg) => takesJson(arg.type)) ? jsonWeight : getNamedType(field.type).name.endsWith('Connection') ? 2 : 1,
      );
      for (let index = 0; index < count; index++) selections.push(...this.fieldWithTwin(root, fields[this.weightedIndex(weights)]!, 1, scope));
      if (this.d.chance(0.08)) selections.push(this.fragmentOn(root, root, 1, scope));
      if (this.d.chance(0.1)) selections.push(`__typename${this.directive(0.3)}`);
    }
    // Every document carries a variable: the bug class under test is one document with several sets.
    if (this.transitiveVariables(usage).size === 0) {
      const guard = `__typename @${this.d.pick(['include', 'skip'])}(if: ${this.variable(new GraphQLNonNull(this.schema.getType('Boolean') as GraphQLLeafType), 'show', false)})`;
      const first = selections[0]!;
      if (first.endsWith('}')) selections[0] = `${first.slice(0, -1)}${guard} }`;
      else selections.push(guard);
    }
    this.leave();
    return { kind, text: selections.join(' '), variables: [...this.transitiveVariables(usage)] };
  }

  private operationName(operation: Operation): string {
    const field = /^(?:\w+: )?(\w+)/.exec(operation.text)?.[1] ?? operation.kind;
    return `${field.charAt(0).toUpperCase()}${field.slice(1).replace(/^_+/, '')}${++this.counter}`;
  }

  private printOperation(operation: Operation): string {
    const definitions = operation.variables.map((name) => {
      const spec = this.variables.get(name)!;
      return `$${name}: ${String(spec.type)}${spec.defaultValue !== undefined ? ` = ${spec.defaultValue}` : ''}`;
    });
    const head = [operation.kind, operation.name, definitions.length > 0 ? `(${definitions.join(', ')})` : ''].filter(Boolean).join(' ');
    return `${head.replace(' (', '(')} { ${operation.text} }`;
  }

  private enter(): Usage {
    const usage: Usage = { variables: new Set(), fragments: new Set() };
    this.usages.push(usage);
    return usage;
  }

  private leave(): void {
    this.usages.pop();
  }

  private get usage(): Usage {
    return this.usages[this.usages.length - 1]!;
  }

  private transitiveVariables(usage: Usage, seen = new Set<string>()): Set<string> {
    const variables = new Set(usage.variables);
    for (const name of usage.fragments) {
      if (seen.has(name)) continue;
      seen.add(name);
      const fragment = this.fragments.find((candidate) => candidate.name === name)!;
      for (const variable of this.transitiveVariables(fragment.usage, seen)) variables.add(variable);
    }
    // In order of declaration, so that the printed definitions are stable.
    return new Set([...this.variables.keys()].filter((name) => variables.has(name)));
  }

  // -- selections ------------------------------------------------------------------------------------

  /** The selections of one selection set of `parent`, whose fields are at `depth`; never empty. */
  private selections(parent: GraphQLCompositeType, depth: number, scope: Scope): string[] {
    const out: string[] = [];
    if (isObjectType(parent) || isInterfaceType(parent)) {
      const candidates = Object.values(parent.getFields()).filter((field) => depth < this.settings.maxDepth || isLeafType(getNamedType(field.type)));
      const count = this.d.weighted([[3, 1], [4, 2], [2, 3], [1, 4]]);
      for (let index = 0; index < count && candidates.length > 0; index++) {
        const weights = candidates.map((field) => (isLeafType(getNamedType(field.type)) ? 4 : Math.max(1, Math.round(6 * 0.7 ** depth))));
        const [field] = candidates.splice(this.weightedIndex(weights), 1);
        out.push(...this.fieldWithTwin(parent, field!, depth, scope));
      }
      if (this.fragmentNesting < MAX_FRAGMENT_NESTING && this.d.chance(0.12)) out.push(this.fragmentOn(parent, this.d.pick(this.conditionsFor(parent)), depth, scope));
    }
    if (isAbstractType(parent) && this.fragmentNesting < MAX_FRAGMENT_NESTING) {
      const members = this.schema.getPossibleTypes(parent);
      for (const member of members) {
        const isError = member.getInterfaces().some((face) => face.name === 'Error');
        if (this.d.chance(isError ? 0.25 : 0.75)) out.push(this.fragmentOn(parent, member, depth, scope));
      }
      const faces = this.conditionsFor(parent).filter((condition) => isInterfaceType(condition) && condition !== parent);
      if (faces.length > 0 && this.d.chance(0.4)) out.push(this.fragmentOn(parent, this.d.pick(faces), depth, scope));
    }
    if (this.d.chance(isAbstractType(parent) ? 0.6 : 0.2)) out.push(this.typename(scope));
    if (this.fragmentNesting < MAX_FRAGMENT_NESTING && this.d.chance(0.03)) out.push(`...${this.directive(1)} { ${this.nested(() => this.selections(parent, depth, scope)).join(' ')} }`);
    if (out.length === 0) out.push(this.typename(scope));
    return out;
  }

  private typename(scope: Scope): string {
    if (this.d.chance(0.08) && this.aliasAllowed()) {
      const alias = this.alias('typename');
      scope.set(alias, alias);
      return `${alias}: __typename`;
    }
    scope.set('__typename', '__typename');
    return `__typename${this.directive(0.05)}`;
  }

  /** Type conditions that may be spread into `parent`: itself, its possible types, overlapping interfaces. */
  private conditionsFor(parent: GraphQLCompositeType): GraphQLCompositeType[] {
    const all = Object.values(this.schema.getTypeMap()).filter(
      (type): type is GraphQLCompositeType => isCompositeType(type) && !type.name.startsWith('__') && !isUnionType(type),
    );
    const conditions = all.filter((type) => type === parent || doTypesOverlap(this.schema, type, parent));
    return isUnionType(parent) ? [parent, ...conditions] : conditions;
  }

  private fieldWithTwin(parent: GraphQLCompositeType, field: GraphQLField<unknown, unknown>, depth: number, scope: Scope): string[] {
    const first = this.field(parent, field, depth, scope);
    if (first === undefined) return [];
    // The same field again under another alias, with arguments drawn afresh.
    if (field.args.length > 0 && this.d.chance(0.12) && this.aliasAllowed()) {
      const twin = this.field(parent, field, depth, scope, { alias: true });
      if (twin !== undefined) return [first, twin];
    }
    return [first];
  }

  private field(
    parent: GraphQLCompositeType,
    field: GraphQLField<unknown, unknown>,
    depth: number,
    scope: Scope,
    options: { alias?: boolean; subscriptionRoot?: boolean; inside?: string[]; args?: string } = {},
  ): string | undefined {
    const named = getNamedType(field.type);
    const leafSignature = isLeafType(named) && field.args.length === 0 ? `${field.name}: ${String(field.type)}` : undefined;
    const taken = scope.names.get(field.name);
    const conflict = taken !== undefined && taken !== leafSignature;
    let alias: string | undefined;
    if ((options.alias || conflict || this.d.chance(0.1)) && this.aliasAllowed()) alias = this.alias(field.name);
    else if (options.alias || conflict) return undefined;

    const args = options.args ?? this.arguments(field.args);
    const directive = options.subscriptionRoot ? '' : this.directive(0.05);
    let selection = '';
    if (isCompositeType(named)) {
      const outer = this.fragmentNesting;
      this.fragmentNesting = 0;
      selection = ` { ${(options.inside ?? this.selections(named, depth + 1, new Scope())).join(' ')} }`;
      this.fragmentNesting = outer;
    }
    this.deepest = Math.max(this.deepest, depth);
    const responseName = alias ?? field.name;
    scope.set(responseName, leafSignature ?? `#${++this.counter}`);
    return `${alias ? `${alias}: ` : ''}${field.name}${args}${directive}${selection}`;
  }

  private aliasAllowed(): boolean {
    return this.unlimited || this.aliases < this.settings.maxAliases;
  }

  private alias(base: string): string {
    this.aliases++;
    return `${base}_${++this.counter}`;
  }

  /** ` @include(if: ...)` or ` @skip(if: ...)` with probability `p`, with a literal or a variable. */
  private directive(p: number): string {
    if (!this.d.chance(p)) return '';
    const name = this.d.pick(['include', 'skip']);
    const condition = this.d.chance(0.4)
      ? String(name === 'include')
      : this.variable(new GraphQLNonNull(this.schema.getType('Boolean') as GraphQLLeafType), name === 'include' ? 'show' : 'hide', false);
    return ` @${name}(if: ${condition})`;
  }

  /** An inline fragment or a spread of a named fragment (new, or one already written) on `condition`. */
  private fragmentOn(parent: GraphQLCompositeType, condition: GraphQLCompositeType, depth: number, scope: Scope): string {
    if (!this.d.chance(0.3)) {
      const directive = this.directive(0.12);
      const on = condition === parent && this.d.chance(0.2) ? '' : ` on ${condition.name}`;
      return `...${on}${directive} { ${this.nested(() => this.selections(condition, depth, scope)).join(' ')} }`;
    }
    const reusable = this.fragments.filter(
      (fragment) =>
        doTypesOverlap(this.schema, fragment.on, parent) &&
        depth + fragment.height - 1 <= this.settings.maxDepth &&
        this.aliases + fragment.aliases <= this.settings.maxAliases &&
        scope.compatible(fragment.names),
    );
    let fragment: Fragment;
    if (reusable.length > 0 && this.d.chance(0.5)) {
      fragment = this.d.pick(reusable);
      this.aliases += fragment.aliases;
    } else {
      // Written against a copy of the scope, so that its names fit here; later uses check they fit there.
      const own = new Scope(scope);
      const outer = this.deepest;
      const aliasesBefore = this.aliases;
      this.deepest = 0;
      const usage = this.enter();
      const body = this.nested(() => this.selections(condition, depth, own));
      this.leave();
      const name = `${condition.name}Fields${++this.counter}`;
      const text = `fragment ${name} on ${condition.name} { ${body.join(' ')} }`;
      const height = Math.max(1, this.deepest - depth + 1);
      fragment = { name, on: condition, text, usage, names: own.added, height, aliases: this.aliases - aliasesBefore };
      this.deepest = Math.max(outer, this.deepest);
      this.fragments.push(fragment);
    }
    for (const [name, signature] of fragment.names) scope.set(name, signature);
    this.usage.fragments.add(fragment.name);
    return `...${fragment.name}${this.directive(0.1)}`;
  }

  private nested<T>(write: () => T): T {
    this.fragmentNesting++;
    try {
      return write();
    } finally {
      this.fragmentNesting--;
    }
  }

  private weightedIndex(weights: readonly number[]): number {
    return this.d.weighted(weights.map((weight, index) => [weight, index] as const));
  }

  // -- arguments and input values --------------------------------------------------------------------

  private arguments(args: readonly { name: string; type: GraphQLInputType; defaultValue?: unknown }[]): string {
    const parts: string[] = [];
    for (const arg of args) {
      const required = isNonNullType(arg.type) && arg.defaultValue === undefined;
      if (!required && !this.d.chance(inclusion(arg.name))) continue;
      parts.push(`${arg.name}: ${this.input(arg.type, arg.name, { hasDefault: arg.defaultValue !== undefined })}`);
    }
    return parts.length > 0 ? `(${parts.join(', ')})` : '';
  }

  /**
   * An input value for a location of `type` named `name`: a variable, or a literal whose parts may be
   * variables (input object fields, list items, members of JSON literals at any depth).
   */
  private input(type: GraphQLInputType, name: string, at: { hasDefault: boolean; constant?: boolean; noVariable?: boolean }): string {
    const constant = at.constant ?? false;
    const inner = getNullableType(type) as GraphQLInputType;
    // JSON positions are more often literals: variables inside JSON literals are the bug class under test.
    const share = isInputObjectType(inner) || isListType(inner) ? 0.3 : JSON_SCALARS.has(getNamedType(inner).name) ? 0.2 : 0.4;
    if (!constant && !at.noVariable && this.d.chance(share)) return this.variable(type, name, at.hasDefault);
    if (!isNonNullType(type) && this.d.chance(0.04)) return 'null';
    if (isListType(inner)) {
      const item = inner.ofType as GraphQLInputType;
      // A single value where a list is expected is coerced to a list of one (a literal only: a variable of
      // the item's type is not allowed there).
      if (this.d.chance(0.12)) return this.input(item, name, { hasDefault: false, constant, noVariable: true });
      const items = Array.from({ length: this.d.int(0, 3) }, () => this.input(item, name, { hasDefault: false, constant }));
      return `[${items.join(', ')}]`;
    }
    if (isInputObjectType(inner)) {
      const fields = this.chooseInputFields(inner).map(
        (field) => `${field.name}: ${this.input(field.type, field.name, { hasDefault: field.defaultValue !== undefined, constant })}`,
      );
      return `{ ${fields.join(', ')} }`.replace('{  }', '{}');
    }
    if (isEnumType(inner)) return this.d.pick(inner.getValues()).name;
    if (JSON_SCALARS.has(inner.name)) {
      const value = this.json(name, inner.name);
      if (!constant && !literalKeys(value)) return this.variable(type, name, at.hasDefault);
      return this.jsonLiteral(value, name, constant, true);
    }
    return printLeaf(this.leaf(inner.name, name, true));
  }

  private chooseInputFields(type: GraphQLInputObjectType) {
    const fields = Object.values(type.getFields());
    const oneOf = ONE_OF.find((group) => group.every((name) => fields.some((field) => field.name === name && !isNonNullType(field.type))));
    const given = new Set<string>();
    if (oneOf) {
      const choice = this.d.weighted<readonly string[]>([[18, [this.d.pick(oneOf)]], [1, oneOf], [1, []]]);
      for (const name of choice) given.add(name);
    }
    return fields.filter((field) => {
      if (oneOf?.includes(field.name)) return given.has(field.name);
      return (isNonNullType(field.type) && field.defaultValue === undefined) || this.d.chance(inclusion(field.name));
    });
  }

  /**
   * `$name` of a variable for a location of `type`: one already declared for the same kind of location,
   * or a new one, declared with the location's type, a stricter one (non-null), or a nullable one with a
   * default where the location is non-null; with a default value now and then.
   */
  private variable(type: GraphQLInputType, hint: string, hasLocationDefault: boolean): string {
    const location = `${String(type)}|${hasLocationDefault}`;
    const same = [...this.variables.values()].filter((spec) => spec.location === location);
    if (same.length > 0 && this.d.chance(0.2)) return this.use(this.d.pick(same).name);
    let declared = type;
    let defaultValue: string | undefined;
    if (isNonNullType(type)) {
      if (this.d.chance(0.15)) {
        declared = type.ofType as GraphQLInputType;
        defaultValue = this.input(type, hint, { hasDefault: false, constant: true });
      }
    } else if (this.d.chance(0.12)) declared = new GraphQLNonNull(type);
    else if (this.d.chance(0.25)) defaultValue = this.input(type, hint, { hasDefault: false, constant: true });
    return this.declare({ name: hint, type: declared, defaultValue, hint, location });
  }

  private declare(spec: VariableSpec): string {
    let name = spec.name.replace(/^_+/, '') || 'value';
    for (let n = 2; this.variables.has(name); n++) name = `${spec.name.replace(/^_+/, '') || 'value'}${n}`;
    this.variables.set(name, { ...spec, name });
    return this.use(name);
  }

  private use(name: string): string {
    this.usage.variables.add(name);
    return `$${name}`;
  }

  private typeNamed(text: string): GraphQLInputType {
    return typeFromAST(this.schema, parseType(text) as never) as GraphQLInputType;
  }

  /** A leaf value for a location named `name`: its hint's pool if it fits the scalar, else the scalar's. */
  private leaf(scalar: string, name: string, literal: boolean): unknown {
    const fits = (value: unknown) =>
      fitsScalar(scalar, value, literal) && !(literal && COST_MULTIPLIERS.has(name) && (value as number) > MAX_MULTIPLIER_LITERAL);
    const hint = Object.hasOwn(HINTS, name) ? HINTS[name] : undefined;
    const hinted = hint ? this.d.fromPool(hint(this.values), fits) : undefined;
    if (hinted !== undefined) return hinted;
    return this.d.fromPool(poolOfScalar(this.values, scalar), fits) ?? (scalar === 'Boolean' ? true : scalar === 'String' || scalar === 'ID' ? '' : 0);
  }

  // -- JSON --------------------------------------------------------------------------------------------

  private json(name: string, scalar: string): Json {
    let value: Json;
    if (name === 'config') value = this.configDocument();
    else if (name === 'patch') value = this.mergePatch();
    else if (name === 'schema') value = this.d.fromPool(this.values.configSchemas) ?? {};
    else value = scalar === 'JSONObject' ? this.jsonObject(2) : this.jsonAny(2);
    return scalar === 'JSONObject' && !isJsonObject(value) ? { value } : value;
  }

  private jsonKey(): string {
    const { sections, settings, rare } = this.values.jsonKeys;
    return rare.length > 0 && this.d.chance(0.05) ? this.d.pick(rare) : this.d.pick([...settings, ...sections]);
  }

  private jsonLeaf(): Json {
    return structuredClone(this.d.fromPool(this.values.jsonLeaves) ?? null);
  }

  private jsonAny(depth: number): Json {
    const kind = depth > 0 ? this.d.weighted([[5, 'leaf'], [2, 'object'], [2, 'array']] as const) : 'leaf';
    if (kind === 'object') return this.jsonObject(depth - 1);
    if (kind === 'array') return Array.from({ length: this.d.int(0, 3) }, () => this.jsonAny(depth - 1));
    return this.jsonLeaf();
  }

  private jsonObject(depth: number): JsonObject {
    const object: JsonObject = {};
    for (let index = this.d.int(0, 3); index > 0; index--) define(object, this.jsonKey(), this.jsonAny(depth));
    return object;
  }

  /** A config document: one of the samples, a sample altered, or a random one. */
  private configDocument(): JsonObject {
    const samples = this.values.configDocuments;
    const kind = samples.length > 0 ? this.d.weighted([[4, 'sample'], [4, 'altered'], [2, 'random']] as const) : 'random';
    if (kind === 'random') return this.jsonObject(2);
    const document = structuredClone(this.d.pick(samples));
    if (kind === 'altered') {
      for (let edits = this.d.int(1, 3); edits > 0; edits--) {
        const sections = Object.keys(document).filter((key) => isJsonObject(document[key]));
        const target = sections.length > 0 && this.d.chance(0.7) ? (document[this.d.pick(sections)] as JsonObject) : document;
        const keys = Object.keys(target);
        if (keys.length > 0 && this.d.chance(0.25)) delete target[this.d.pick(keys)];
        else define(target, keys.length > 0 && this.d.chance(0.5) ? this.d.pick(keys) : this.jsonKey(), this.jsonLeaf());
      }
    }
    return document;
  }

  /** An RFC 7396 merge patch: settings, sections of settings, and nulls (deletions). */
  private mergePatch(): JsonObject {
    const patch: JsonObject = {};
    const { sections } = this.values.jsonKeys;
    for (let members = this.d.int(1, 3); members > 0; members--) {
      if (sections.length > 0 && this.d.chance(0.5)) {
        const section: JsonObject = {};
        for (let settings = this.d.int(1, 2); settings > 0; settings--) define(section, this.jsonKey(), this.jsonLeaf());
        define(patch, this.d.pick(sections), this.d.chance(0.08) ? null : section);
      } else define(patch, this.jsonKey(), this.jsonLeaf());
    }
    return patch;
  }

  /** A JSON literal, some of whose members and items are variables (not the value itself at the top). */
  private jsonLiteral(value: Json, key: string, constant: boolean, top: boolean): string {
    if (!top && !constant && this.d.chance(Array.isArray(value) || isJsonObject(value) ? 0.08 : 0.25)) return this.jsonVariable(value, key);
    if (value === null || typeof value !== 'object') return printLeaf(value);
    if (Array.isArray(value)) return `[${value.map((item) => this.jsonLiteral(item, key, constant, false)).join(', ')}]`;
    const members = Object.entries(value).filter(([member]) => NAME.test(member));
    if (members.length < Object.keys(value).length && !constant) return this.jsonVariable(value, key);
    const printed = members.map(([member, item]) => `${member}: ${this.jsonLiteral(item, member, constant, false)}`);
    return printed.length > 0 ? `{ ${printed.join(', ')} }` : '{}';
  }

  /**
   * A variable inside a JSON literal. Validation checks nothing there, so its declared type is free: one
   * that fits the value it replaces, as often `JSON`; now and then a variable already declared, of any type.
   */
  private jsonVariable(value: Json, key: string): string {
    const existing = [...this.variables.keys()];
    if (existing.length > 0 && this.d.chance(0.1)) return this.use(this.d.pick(existing));
    const types =
      value === null
        ? ['JSON', 'String', 'Int']
        : typeof value === 'boolean'
          ? ['Boolean', 'Boolean!', 'JSON']
          : typeof value === 'number'
            ? isInt32(value)
              ? ['Int', 'Int!', 'Float', 'SafeInt', 'JSON']
              : ['Float', 'JSON']
            : typeof value === 'string'
              ? ['String', 'String!', 'ID', 'JSON']
              : Array.isArray(value)
                ? ['JSON', '[Int]', '[String!]', '[JSON]']
                : ['JSONObject', 'JSONObject!', 'JSON'];
    const type = this.typeNamed(this.d.pick(types.filter((text) => this.schema.getType(text.replace(/[[\]!]/g, '')))));
    const name = NAME.test(key) ? key : 'member';
    const defaultValue = this.d.chance(0.2) ? this.input(type, name, { hasDefault: false, constant: true }) : undefined;
    return this.declare({ name, type, defaultValue, hint: name, location: `json:${String(type)}` });
  }

  // -- variable sets ---------------------------------------------------------------------------------

  private variableSets(names: readonly string[]): Record<string, unknown>[] {
    const specs = names.map((name) => this.variables.get(name)!);
    const sets: Record<string, unknown>[] = [];
    const count = this.d.int(3, 5);
    for (let index = 0; index < count; index++) {
      let set = this.variableSet(specs, index);
      // Sets differ from one another (as far as a few draws allow): the bug class is a value that sticks.
      for (let attempt = 0; attempt < 4 && sets.some((other) => sameJson(other, set)); attempt++) set = this.variableSet(specs, index);
      sets.push(set);
    }
    return sets;
  }

  private variableSet(specs: readonly VariableSpec[], index: number): Record<string, unknown> {
    const set: Record<string, unknown> = {};
    const wrong = index > 0 && specs.length > 0 && this.d.chance(0.1) ? this.d.int(0, specs.length - 1) : -1;
    const omitShare = index === 1 ? 0.4 : index === 0 ? 0 : 0.1;
    const nullShare = index === 2 ? 0.3 : index === 0 ? 0 : 0.06;
    for (const [position, spec] of specs.entries()) {
      const nullable = !isNonNullType(spec.type);
      const optional = nullable || spec.defaultValue !== undefined;
      if (position === wrong) {
        const value = this.wrongValue(spec);
        if (value !== OMIT) set[spec.name] = value;
      } else if (optional && this.d.chance(omitShare)) continue;
      else if (nullable && this.d.chance(nullShare)) set[spec.name] = null;
      else set[spec.name] = this.value(spec.type, spec.hint);
    }
    if (this.d.chance(0.03)) set.undeclaredVariable = 'ignored';
    return set;
  }

  /** A value of `type` (as a variable carries it) for a location named `name`. */
  private value(type: GraphQLInputType, name: string, nested = false): unknown {
    if (nested && !isNonNullType(type) && this.d.chance(0.04)) return null;
    const inner = getNullableType(type) as GraphQLInputType;
    if (isListType(inner)) {
      const item = inner.ofType as GraphQLInputType;
      if (this.d.chance(0.1)) return this.value(item, name, true);
      return Array.from({ length: this.d.int(0, 3) }, () => this.value(item, name, true));
    }
    if (isInputObjectType(inner)) {
      const object: Record<string, unknown> = {};
      for (const field of this.chooseInputFields(inner)) object[field.name] = this.value(field.type, field.name, true);
      return object;
    }
    if (isEnumType(inner)) return this.d.pick(inner.getValues()).name;
    if (JSON_SCALARS.has(inner.name)) return this.json(name, inner.name);
    return this.leaf(inner.name, name, false);
  }

  /** A value the variable's type refuses (or none, or null, where it is non-null). */
  private wrongValue(spec: VariableSpec): unknown {
    const type = spec.type;
    if (isNonNullType(type) && spec.defaultValue === undefined && this.d.chance(0.4)) return this.d.pick([null, OMIT]);
    const inner = getNullableType(type) as GraphQLInputType;
    if (isListType(inner)) {
      if (this.d.chance(0.5)) return { not: 'a list' };
      const item = this.wrongValue({ ...spec, type: inner.ofType as GraphQLInputType, defaultValue: undefined });
      return [item === OMIT ? null : item];
    }
    if (isInputObjectType(inner)) {
      const valid = this.value(inner, spec.hint) as Record<string, unknown>;
      const required = Object.values(inner.getFields()).filter((field) => isNonNullType(field.type) && field.defaultValue === undefined);
      const kind = this.d.pick(['unknown field', 'missing field', 'not an object'] as const);
      if (kind === 'missing field' && required.length > 0) {
        delete valid[this.d.pick(required).name];
        return valid;
      }
      return kind === 'not an object' ? 'not an object' : { ...valid, notAField: 1 };
    }
    if (isEnumType(inner)) return this.d.pick(['NOT_A_VALUE', inner.getValues()[0]!.name.toLowerCase(), 7]);
    const wrong = wrongScalarValues(inner.name);
    if (wrong.length > 0) return this.d.pick(wrong);
    return isNonNullType(type) ? null : this.value(type, spec.hint);
  }

  // -- invalid and over-limit documents --------------------------------------------------------------

  /** The document with one validation error: an unknown field or fragment, a missing argument, an undefined variable. */
  private invalidate(query: string, operationName: string | undefined): string {
    const document = parse(query);
    const target = document.definitions.find(
      (definition): definition is OperationDefinitionNode =>
        definition.kind === Kind.OPERATION_DEFINITION && (operationName === undefined || definition.name?.value === operationName),
    )!;
    // No directive at a subscription's root: graphql-js evaluates it while validating, and throws.
    const kinds = ['unknown field', 'missing argument', 'unknown fragment', ...(target.operation === 'subscription' ? [] : ['undefined variable'])] as const;
    const kind = this.d.pick(kinds);
    if (kind === 'missing argument') {
      const typeInfo = new TypeInfo(this.schema);
      let removed = false;
      const edited = visit(
        document,
        visitWithTypeInfo(typeInfo, {
          Argument() {
            const argument = typeInfo.getArgument();
            if (removed || !argument || !isNonNullType(argument.type) || argument.defaultValue !== undefined) return undefined;
            removed = true;
            return null;
          },
        }),
      );
      if (removed) return print(edited);
    }
    const selection: SelectionNode =
      kind === 'unknown fragment'
        ? { kind: Kind.FRAGMENT_SPREAD, name: { kind: Kind.NAME, value: 'NoSuchFragment' } }
        : kind === 'undefined variable'
          ? {
              kind: Kind.FIELD,
              name: { kind: Kind.NAME, value: '__typename' },
              directives: [
                {
                  kind: Kind.DIRECTIVE,
                  name: { kind: Kind.NAME, value: 'include' },
                  arguments: [{ kind: Kind.ARGUMENT, name: { kind: Kind.NAME, value: 'if' }, value: { kind: Kind.VARIABLE, name: { kind: Kind.NAME, value: 'undeclared' } } }],
                },
              ],
            }
          : { kind: Kind.FIELD, name: { kind: Kind.NAME, value: 'notAField' } };
    const edited: DocumentNode = {
      ...document,
      definitions: document.definitions.map((definition) =>
        definition === target ? { ...target, selectionSet: { ...target.selectionSet, selections: [...target.selectionSet.selections, selection] } } : definition,
      ),
    };
    return print(edited);
  }

  /** The document cut short inside its last definition, or with a brace too many. */
  private breakSyntax(query: string): string {
    if (this.d.chance(0.3)) return `${query} }`;
    const lastStart = Math.max(query.lastIndexOf('\nfragment '), query.lastIndexOf('\nquery '), query.lastIndexOf('\nmutation '), query.lastIndexOf('\nsubscription '), 0);
    return query.slice(0, this.d.int(lastStart + 2, query.length - 2));
  }

  /** A document that crosses one of the server's limits: depth, aliases, tokens or cost. */
  private overLimit(): GeneratedOperation {
    const kind = this.d.pick(this.settings.kinds);
    const root = rootType(this.schema, kind)!;
    const deep = deepTypes(this.schema);
    const deepRoots = Object.values(root.getFields()).filter((field) => deep.has(getNamedType(field.type).name));
    const costPath = findPath(this.schema, root, (field) => field.args.some((arg) => COST_MULTIPLIERS.has(arg.name) && getNamedType(arg.type).name === 'Int'));
    const bulkRoots = Object.values(root.getFields()).filter((field) => field.args.some((arg) => takesBulk(arg.type)));
    const variants: ('aliases' | 'tokens' | 'depth' | 'cost')[] = ['aliases'];
    if (bulkRoots.length > 0) variants.push('tokens');
    if (deepRoots.length > 0) variants.push('depth');
    if (costPath) variants.push('cost');
    const variant = this.d.pick(variants);
    this.unlimited = true;
    const operation = this.operation(kind, () => {
      if (variant === 'depth') {
        const field = this.d.pick(deepRoots);
        return { field, inside: [this.deepChain(getNamedType(field.type) as GraphQLCompositeType, this.d.int(13, 16))] };
      }
      if (variant === 'cost') {
        const { field } = costPath![0] as FieldStep;
        if (costPath!.length > 1) return { field, inside: [this.costChain(costPath!.slice(1), 2)] };
        return { field, args: this.costArguments(field), inside: this.selections(getNamedType(field.type) as GraphQLCompositeType, 2, new Scope()) };
      }
      if (variant === 'tokens') {
        const field = this.d.pick(bulkRoots);
        return { field, args: this.bulkArguments(field), inside: ['__typename'] };
      }
      const composite = Object.values(root.getFields()).filter(
        (field) => isCompositeType(getNamedType(field.type)) && this.hasAliasableLeaf(getNamedType(field.type) as GraphQLCompositeType),
      );
      const field = this.d.pick(composite);
      return { field, inside: [this.manyAliases(getNamedType(field.type) as GraphQLCompositeType, this.d.int(21, 26))] };
    });
    this.unlimited = false;
    const query = [this.printOperation(operation), ...this.fragments.map((fragment) => fragment.text)].join('\n');
    return { query, kind, variableSets: this.variableSets(operation.variables), intent: 'overLimit' };
  }

  /**
   * The selection set (of a root field of `type`) that nests fields to beyond `target` depth, through
   * types from which paths go arbitrarily deep (ServiceConfig → history → edges → node → config → ...).
   */
  private deepChain(type: GraphQLCompositeType, target: number): string {
    const deep = deepTypes(this.schema);
    const step = (parent: GraphQLCompositeType, depth: number): string => {
      if (depth > target) return '__typename';
      if (isAbstractType(parent)) {
        const member = this.d.pick(this.schema.getPossibleTypes(parent).filter((candidate) => deep.has(candidate.name)));
        return `... on ${member.name} { ${step(member, depth)} }`;
      }
      const field = this.d.pick(Object.values(parent.getFields()).filter((candidate) => deep.has(getNamedType(candidate.type).name)));
      return `${field.name}${this.arguments(field.args)} { ${step(getNamedType(field.type) as GraphQLCompositeType, depth + 1)} }`;
    };
    return step(type, 2);
  }

  /** Leaf fields without arguments of a type (none for a union). */
  private leavesOf(candidate: GraphQLCompositeType) {
    return isUnionType(candidate) ? [] : Object.values(candidate.getFields()).filter((field) => isLeafType(getNamedType(field.type)) && field.args.length === 0);
  }

  /** Whether `manyAliases` can alias a leaf of the type (or of one of its members). */
  private hasAliasableLeaf(type: GraphQLCompositeType): boolean {
    return isUnionType(type) ? this.schema.getPossibleTypes(type).some((member) => this.leavesOf(member).length > 0) : this.leavesOf(type).length > 0;
  }

  /** `count` aliases of one leaf field (graphql-armor does not count aliases of `__typename`). */
  private manyAliases(type: GraphQLCompositeType, count: number): string {
    const leavesOf = (candidate: GraphQLCompositeType) => this.leavesOf(candidate);
    const owner = isUnionType(type) ? this.d.pick(this.schema.getPossibleTypes(type).filter((member) => leavesOf(member).length > 0)) : type;
    const leaf = this.d.pick(leavesOf(owner));
    const aliases = Array.from({ length: count }, (_, index) => `many_${index}: ${leaf.name}`).join(' ');
    return owner === type ? aliases : `... on ${owner.name} { ${aliases} }`;
  }

  /** Arguments of `field` with one list or JSON value of over 5,000 tokens (the server refuses beyond 5,000). */
  private bulkArguments(field: GraphQLField<unknown, unknown>): string {
    const bulk = this.d.pick(field.args.filter((arg) => takesBulk(arg.type)));
    const count = this.d.int(5_001, 5_200);
    const huge = (type: GraphQLInputType, name: string): string => {
      const inner = getNullableType(type) as GraphQLInputType;
      if (isListType(inner)) {
        const item = this.input(inner.ofType as GraphQLInputType, name, { hasDefault: false, constant: true });
        return `[${Array.from({ length: count }, () => item).join(', ')}]`;
      }
      if (isInputObjectType(inner)) {
        const fields = Object.values(inner.getFields());
        const target = this.d.pick(fields.filter((candidate) => takesBulk(candidate.type)));
        const members = fields
          .filter((candidate) => candidate === target || (isNonNullType(candidate.type) && candidate.defaultValue === undefined))
          .map((candidate) => `${candidate.name}: ${candidate === target ? huge(candidate.type, candidate.name) : this.input(candidate.type, candidate.name, { hasDefault: false })}`);
        return `{ ${members.join(', ')} }`;
      }
      const ones = `[${Array.from({ length: count }, () => '1').join(', ')}]`;
      return inner.name === 'JSONObject' ? `{ many: ${ones} }` : ones;
    };
    const others = field.args.filter((arg) => arg !== bulk && isNonNullType(arg.type) && arg.defaultValue === undefined);
    const printed = [`${bulk.name}: ${huge(bulk.type, bulk.name)}`, ...others.map((arg) => `${arg.name}: ${this.input(arg.type, arg.name, { hasDefault: false })}`)];
    return `(${printed.join(', ')})`;
  }

  /** The path below the root field to a field taking `first`, that field given a huge literal `first`. */
  private costChain(path: readonly PathStep[], depth: number): string {
    const [step, ...rest] = path;
    if (!step) return '__typename';
    if (step.kind === 'fragment') return `... on ${step.type.name} { ${this.costChain(rest, depth)} }`;
    const field = step.field;
    const named = getNamedType(field.type) as GraphQLCompositeType;
    if (rest.length > 0) return `${field.name}${this.arguments(field.args.filter((arg) => isNonNullType(arg.type)))} { ${this.costChain(rest, depth + 1)} }`;
    return `${field.name}${this.costArguments(field)} { ${this.selections(named, depth + 1, new Scope()).join(' ')} }`;
  }

  /** The required arguments of `field`, and a literal `first` or `last` that multiplies its cost past the limit. */
  private costArguments(field: GraphQLField<unknown, unknown>): string {
    const own = this.arguments(field.args.filter((arg) => !COST_MULTIPLIERS.has(arg.name) && isNonNullType(arg.type))).replace(/^\(|\)$/g, '');
    const multiplier = `${this.d.pick(field.args.filter((arg) => COST_MULTIPLIERS.has(arg.name))).name}: ${this.d.int(3_000, 9_000)}`;
    return `(${[multiplier, own].filter(Boolean).join(', ')})`;
  }
}

/** The cost graphql-armor's cost limit (as the server configures it) finds in `query`: the most of any operation. */
function queryCost(schema: GraphQLSchema, query: string): number {
  let cost = 0;
  const onAccept = [(_context: unknown, { n }: { n: number }) => (cost = Math.max(cost, n))];
  validate(schema, parse(query), [costLimitRule({ maxCost: Number.POSITIVE_INFINITY, onAccept }) as unknown as ValidationRule]);
  return cost;
}

/** The root type of `kind` (OperationTypeNode's values are the kinds' names). */
const rootType = (schema: GraphQLSchema, kind: OperationKind) => schema.getRootType(kind as OperationTypeNode);

function printLeaf(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null) return 'null';
  throw new Error(`not a leaf value: ${JSON.stringify(value)}`);
}

/** Whether a location of `type` can hold a list or a JSON value (directly or in an input object field). */
const takesBulk = (type: GraphQLInputType) => reaches(type, (inner) => isListType(inner) || JSON_SCALARS.has(getNamedType(inner).name));
/** Whether a location of `type` can hold a JSON value (directly or in an input object field). */
const takesJson = (type: GraphQLInputType) => reaches(type, (inner) => !isListType(inner) && JSON_SCALARS.has(getNamedType(inner).name));

function reaches(type: GraphQLInputType, wanted: (inner: GraphQLInputType) => boolean, seen = new Set<string>()): boolean {
  const inner = getNullableType(type) as GraphQLInputType;
  if (wanted(inner)) return true;
  if (!isInputObjectType(inner) || seen.has(inner.name)) return false;
  seen.add(inner.name);
  return Object.values(inner.getFields()).some((field) => reaches(field.type, wanted, seen));
}

const isJsonObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** Whether every member name in `value` can be written in a GraphQL object literal. */
function literalKeys(value: Json): boolean {
  if (Array.isArray(value)) return value.every(literalKeys);
  if (!isJsonObject(value)) return true;
  return Object.entries(value).every(([key, item]) => NAME.test(key) && literalKeys(item));
}

/** Members are defined, not assigned: "__proto__" is an ordinary member of a JSON object. */
function define(object: JsonObject, key: string, value: Json): void {
  Object.defineProperty(object, key, { value, enumerable: true, writable: true, configurable: true });
}

const sameJson = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

const deepTypeCache = new WeakMap<GraphQLSchema, Set<string>>();

/** Composite types from which a path of fields goes arbitrarily deep (greatest fixed point). */
function deepTypes(schema: GraphQLSchema): Set<string> {
  const cached = deepTypeCache.get(schema);
  if (cached) return cached;
  const composite = Object.values(schema.getTypeMap()).filter(
    (type): type is GraphQLCompositeType => isCompositeType(type) && !type.name.startsWith('__'),
  );
  const deep = new Set(composite.map((type) => type.name));
  for (let changed = true; changed; ) {
    changed = false;
    for (const type of composite) {
      if (!deep.has(type.name)) continue;
      const next = isAbstractType(type)
        ? schema.getPossibleTypes(type).map((member) => member.name)
        : Object.values(type.getFields()).map((field) => getNamedType(field.type).name);
      if (!next.some((name) => deep.has(name))) {
        deep.delete(type.name);
        changed = true;
      }
    }
  }
  deepTypeCache.set(schema, deep);
  return deep;
}

type FieldStep = { kind: 'field'; field: GraphQLField<unknown, unknown> };
type PathStep = FieldStep | { kind: 'fragment'; type: GraphQLObjectType };

/** The shortest path of fields (and type conditions) from `root` to a field `wanted` accepts. */
function findPath(schema: GraphQLSchema, root: GraphQLObjectType, wanted: (field: GraphQLField<unknown, unknown>) => boolean): PathStep[] | undefined {
  const queue: { type: GraphQLNamedType; path: PathStep[] }[] = [{ type: root, path: [] }];
  const seen = new Set<string>([root.name]);
  while (queue.length > 0) {
    const { type, path } = queue.shift()!;
    if (path.length > 8) continue;
    if (isAbstractType(type)) {
      for (const member of schema.getPossibleTypes(type)) {
        if (seen.has(member.name)) continue;
        seen.add(member.name);
        queue.push({ type: member, path: [...path, { kind: 'fragment', type: member }] });
      }
      continue;
    }
    if (!isObjectType(type) && !isInterfaceType(type)) continue;
    for (const field of Object.values(type.getFields())) {
      const named = getNamedType(field.type);
      if (!isCompositeType(named)) continue;
      const next = [...path, { kind: 'field', field } as const];
      if (wanted(field)) return next;
      if (seen.has(named.name)) continue;
      seen.add(named.name);
      queue.push({ type: named, path: next });
    }
  }
  return undefined;
}
