// The operation generator of the differential tests, checked on its own: what it writes parses and
// validates against schema.graphql (unless it is meant not to), stays within the server's limits (unless
// it is meant to cross them), comes with several variable sets, covers the schema and the language
// features the fast paths must agree on, and is the same for the same seed.
import { readFileSync } from 'node:fs';
import { costLimitRule } from '@escape.tech/graphql-armor-cost-limit';
import { maxAliasesRule } from '@escape.tech/graphql-armor-max-aliases';
import { maxDepthRule } from '@escape.tech/graphql-armor-max-depth';
import fc from 'fast-check';
import {
  type ASTNode,
  type DocumentNode,
  Kind,
  Lexer,
  type OperationDefinitionNode,
  Source,
  TokenKind,
  TypeInfo,
  type ValidationRule,
  buildSchema,
  getNamedType,
  getVariableValues,
  parse,
  print,
  validate,
  visit,
  visitWithTypeInfo,
} from 'graphql';
import { describe, expect, it } from 'vitest';
import { type GeneratedOperation, SERVER_LIMITS, defaultDomainValues, operationArbitrary } from './support/operationArbitrary.ts';

const schema = buildSchema(readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8'));
const SEED = 20_261_127;
const RUNS = 400;

const JSON_SCALARS = new Set(['JSON', 'JSONObject']);

/** The document's depth, aliases and cost as the server's graphql-armor rules count them, and its tokens. */
function measure(document: DocumentNode, text: string) {
  const found = { depth: 0, aliases: 0, cost: 0 };
  const record = (key: keyof typeof found) => [(_context: unknown, { n }: { n: number }) => (found[key] = Math.max(found[key], n))];
  const rules: ValidationRule[] = [
    maxDepthRule({ n: Number.POSITIVE_INFINITY, flattenFragments: true, onAccept: record('depth') }) as unknown as ValidationRule,
    maxAliasesRule({ n: Number.POSITIVE_INFINITY, onAccept: record('aliases') }) as unknown as ValidationRule,
    costLimitRule({ maxCost: Number.POSITIVE_INFINITY, onAccept: record('cost') }) as unknown as ValidationRule,
  ];
  validate(schema, document, rules);
  const lexer = new Lexer(new Source(text));
  let tokens = 0;
  while (lexer.advance().kind !== TokenKind.EOF) tokens++;
  return { ...found, tokens };
}


interface Features {
  rootFields: Set<string>;
  /** Variables inside JSON/JSONObject literals, and the deepest nesting one sits at (1: a member of the top object). */
  jsonVariables: number;
  jsonVariableDepth: number;
  fragmentDefinitions: number;
  fragmentSpreadTwice: boolean;
  inlineFragments: number;
  errorInterfaceFragments: number;
  aliases: number;
  twins: number;
  includeSkipLiteral: number;
  includeSkipVariable: number;
  variableDefaults: number;
  listItemVariables: number;
  inputFieldVariables: number;
  argumentVariables: number;
  connections: number;
  twoOperations: boolean;
}

/** What one document uses, read from its AST with the schema's types. */
function features(document: DocumentNode): Features {
  const typeInfo = new TypeInfo(schema);
  const found: Features = {
    rootFields: new Set(),
    jsonVariables: 0,
    jsonVariableDepth: 0,
    fragmentDefinitions: 0,
    fragmentSpreadTwice: false,
    inlineFragments: 0,
    errorInterfaceFragments: 0,
    aliases: 0,
    twins: 0,
    includeSkipLiteral: 0,
    includeSkipVariable: 0,
    variableDefaults: 0,
    listItemVariables: 0,
    inputFieldVariables: 0,
    argumentVariables: 0,
    connections: 0,
    twoOperations: document.definitions.filter((definition) => definition.kind === Kind.OPERATION_DEFINITION).length > 1,
  };
  const roots = new Set([schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()].filter(Boolean).map((type) => type!.name));
  const spreads = new Map<string, number>();
  /** Variables in a JSON literal, with their depth below it. */
  const scanJson = (node: ASTNode, depth: number) => {
    if (node.kind === Kind.VARIABLE) {
      found.jsonVariables++;
      found.jsonVariableDepth = Math.max(found.jsonVariableDepth, depth);
    } else if (node.kind === Kind.OBJECT) for (const field of node.fields) scanJson(field.value, depth + 1);
    else if (node.kind === Kind.LIST) for (const item of node.values) scanJson(item, depth + 1);
  };
  visit(
    document,
    visitWithTypeInfo(typeInfo, {
      Field(node) {
        const parent = typeInfo.getParentType();
        if (parent && roots.has(parent.name)) found.rootFields.add(`${parent.name}.${node.name.value}`);
        if (node.alias) found.aliases++;
        if (node.name.value === 'edges' || node.name.value === 'pageInfo') found.connections++;
      },
      Argument(node) {
        const type = typeInfo.getInputType();
        if (type && JSON_SCALARS.has(getNamedType(type).name) && node.value.kind !== Kind.VARIABLE) scanJson(node.value, 0);
        if (node.value.kind === Kind.VARIABLE && typeInfo.getDirective() === null) found.argumentVariables++;
      },
      ObjectField(node) {
        const type = typeInfo.getInputType();
        if (type && JSON_SCALARS.has(getNamedType(type).name) && node.value.kind !== Kind.VARIABLE) scanJson(node.value, 0);
        if (type && node.value.kind === Kind.VARIABLE) found.inputFieldVariables++;
      },
      ListValue(node) {
        const type = typeInfo.getInputType();
        if (type && !JSON_SCALARS.has(getNamedType(type).name)) found.listItemVariables += node.values.filter((item) => item.kind === Kind.VARIABLE).length;
      },
      Directive(node) {
        if (node.name.value !== 'include' && node.name.value !== 'skip') return;
        if (node.arguments?.[0]?.value.kind === Kind.VARIABLE) found.includeSkipVariable++;
        else found.includeSkipLiteral++;
      },
      InlineFragment(node) {
        found.inlineFragments++;
        if (node.typeCondition?.name.value === 'Error') found.errorInterfaceFragments++;
      },
      FragmentDefinition() {
        found.fragmentDefinitions++;
      },
      FragmentSpread(node) {
        spreads.set(node.name.value, (spreads.get(node.name.value) ?? 0) + 1);
      },
      VariableDefinition(node) {
        if (node.defaultValue) found.variableDefaults++;
      },
      SelectionSet(node) {
        // The same field twice under different aliases, with different arguments.
        const fields = node.selections.filter((selection) => selection.kind === Kind.FIELD && selection.arguments?.length);
        const byName = new Map<string, Set<string>>();
        for (const field of fields) {
          if (field.kind !== Kind.FIELD) continue;
          const args = byName.get(field.name.value) ?? new Set();
          args.add(print({ ...field, alias: undefined, selectionSet: undefined, directives: [] }));
          byName.set(field.name.value, args);
        }
        for (const args of byName.values()) if (args.size > 1) found.twins++;
      },
    }),
  );
  found.fragmentSpreadTwice = [...spreads.values()].some((count) => count > 1);
  return found;
}

/** The operation a request would run. */
function selectedOperation(document: DocumentNode, operationName: string | undefined): OperationDefinitionNode {
  const operations = document.definitions.filter((definition): definition is OperationDefinitionNode => definition.kind === Kind.OPERATION_DEFINITION);
  return operationName === undefined ? operations[0]! : operations.find((operation) => operation.name?.value === operationName)!;
}

function sample(options?: Parameters<typeof operationArbitrary>[2], seed = SEED, numRuns = RUNS) {
  return fc.sample(operationArbitrary(schema, defaultDomainValues, options), { seed, numRuns });
}

const share = (count: number, of: number) => Math.round((1_000 * count) / of) / 10;

describe('operationArbitrary', () => {
  const samples = sample({ kinds: ['query', 'mutation', 'subscription'] });
  const byIntent = (intent: GeneratedOperation['intent']) => samples.filter((operation) => operation.intent === intent);
  const meant = [...byIntent('valid'), ...byIntent('overLimit')];

  it('writes documents that parse and validate, within the server limits, unless meant otherwise', () => {
    const counts = Object.fromEntries(['valid', 'overLimit', 'validationError', 'syntaxError'].map((intent) => [intent, byIntent(intent as never).length]));
    console.log(`intents over ${RUNS} samples:`, counts);
    expect(counts.valid).toBeGreaterThan(RUNS * 0.9);
    for (const intent of ['overLimit', 'validationError', 'syntaxError']) expect(counts[intent]).toBeGreaterThan(0);

    for (const operation of byIntent('syntaxError')) expect(() => parse(operation.query), operation.query).toThrow(/Syntax Error/);
    for (const operation of byIntent('validationError')) expect(validate(schema, parse(operation.query)).length, operation.query).toBeGreaterThan(0);
    for (const operation of meant) expect(validate(schema, parse(operation.query)).map(String), operation.query.slice(0, 2_000)).toEqual([]);

    const largest = { depth: 0, aliases: 0, tokens: 0, cost: 0 };
    for (const operation of byIntent('valid')) {
      const found = measure(parse(operation.query), operation.query);
      for (const key of Object.keys(largest) as (keyof typeof largest)[]) largest[key] = Math.max(largest[key], found[key]);
    }
    console.log('largest valid document:', largest);
    expect(largest.depth).toBeLessThanOrEqual(10);
    expect(largest.aliases).toBeLessThanOrEqual(15);
    expect(largest.tokens).toBeLessThan(2_500);
    expect(largest.cost).toBeLessThan(SERVER_LIMITS.cost);

    const crossed = new Map<string, number>();
    for (const operation of byIntent('overLimit')) {
      const found = measure(parse(operation.query), operation.query);
      const over = (Object.keys(SERVER_LIMITS) as (keyof typeof SERVER_LIMITS)[]).filter((key) => found[key] > SERVER_LIMITS[key]);
      expect(over, operation.query.slice(0, 500)).not.toEqual([]);
      for (const key of over) crossed.set(key, (crossed.get(key) ?? 0) + 1);
    }
    console.log('over-limit documents by limit crossed:', Object.fromEntries(crossed));
  });

  it('gives each document at least three variable sets that differ, some omitting, some null, a few of the wrong type', () => {
    let differing = 0;
    let omitted = 0;
    let nulls = 0;
    let refused = 0;
    let sets = 0;
    for (const operation of meant) {
      expect(operation.variableSets.length).toBeGreaterThanOrEqual(3);
      if (new Set(operation.variableSets.map((set) => JSON.stringify(set))).size >= 3) differing++;
      const definitions = selectedOperation(parse(operation.query), operation.operationName).variableDefinitions ?? [];
      expect(definitions.length, operation.query).toBeGreaterThan(0);
      for (const set of operation.variableSets) {
        sets++;
        if (definitions.some((definition) => !(definition.variable.name.value in set))) omitted++;
        if (Object.values(set).includes(null)) nulls++;
        if ('errors' in getVariableValues(schema, definitions, set)) refused++;
      }
    }
    console.log(
      `variable sets: ${sets}; documents with >= 3 distinct sets: ${share(differing, meant.length)}%; sets omitting a variable: ${share(omitted, sets)}%;`,
      `passing null: ${share(nulls, sets)}%; refused by variable coercion: ${share(refused, sets)}%`,
    );
    expect(differing / meant.length).toBeGreaterThan(0.9);
    expect(omitted / sets).toBeGreaterThan(0.1);
    expect(nulls / sets).toBeGreaterThan(0.05);
    expect(refused / sets).toBeGreaterThan(0.02);
    expect(refused / sets).toBeLessThan(0.15);
  });

  it('covers every root field and the language features fast paths must agree on', () => {
    const all = meant.map((operation) => ({ operation, found: features(parse(operation.query)) }));
    const rootFields = new Set(all.flatMap(({ found }) => [...found.rootFields]));
    for (const type of [schema.getQueryType()!, schema.getMutationType()!, schema.getSubscriptionType()!])
      for (const field of Object.keys(type.getFields())) expect(rootFields, `${type.name}.${field}`).toContain(`${type.name}.${field}`);

    const documents = all.length;
    const count = (test: (found: Features) => boolean) => all.filter(({ found }) => test(found)).length;
    const shares = {
      'JSON literal holding a variable': share(count((found) => found.jsonVariables > 0), documents),
      'JSON variable 2+ levels deep': share(count((found) => found.jsonVariableDepth >= 2), documents),
      'named fragment': share(count((found) => found.fragmentDefinitions > 0), documents),
      'named fragment spread twice': share(count((found) => found.fragmentSpreadTwice), documents),
      'inline fragment': share(count((found) => found.inlineFragments > 0), documents),
      '... on Error': share(count((found) => found.errorInterfaceFragments > 0), documents),
      alias: share(count((found) => found.aliases > 0), documents),
      'same field twice, other arguments': share(count((found) => found.twins > 0), documents),
      '@include/@skip literal': share(count((found) => found.includeSkipLiteral > 0), documents),
      '@include/@skip variable': share(count((found) => found.includeSkipVariable > 0), documents),
      'variable default': share(count((found) => found.variableDefaults > 0), documents),
      'variable as argument': share(count((found) => found.argumentVariables > 0), documents),
      'variable as input object field': share(count((found) => found.inputFieldVariables > 0), documents),
      'variable as list item': share(count((found) => found.listItemVariables > 0), documents),
      connection: share(count((found) => found.connections > 0), documents),
      'two operations': share(count((found) => found.twoOperations), documents),
    };
    console.log(`features, % of ${documents} valid documents:`, shares);
    const mutations = all.filter(({ operation }) => operation.kind === 'mutation');
    const jsonInMutations = share(mutations.filter(({ found }) => found.jsonVariables > 0).length, mutations.length);
    console.log(`mutations with a variable in a JSON literal: ${jsonInMutations}%`);
    expect(jsonInMutations).toBeGreaterThan(30);
    const minimum: Record<keyof typeof shares, number> = {
      'JSON literal holding a variable': 8,
      'JSON variable 2+ levels deep': 4,
      'named fragment': 15,
      'named fragment spread twice': 2,
      'inline fragment': 50,
      '... on Error': 10,
      alias: 30,
      'same field twice, other arguments': 5,
      '@include/@skip literal': 20,
      '@include/@skip variable': 30,
      'variable default': 20,
      'variable as argument': 40,
      'variable as input object field': 15,
      'variable as list item': 2,
      connection: 15,
      'two operations': 4,
    };
    for (const [feature, least] of Object.entries(minimum)) expect(shares[feature as keyof typeof shares], feature).toBeGreaterThanOrEqual(least);

    // A few, for whoever reads the log.
    const shown = [
      all.find(({ found }) => found.jsonVariableDepth >= 2),
      all.find(({ found }) => found.twoOperations),
      all.find(({ found, operation }) => found.twins > 0 && operation.query.length < 1_500),
    ];
    for (const entry of shown) if (entry) console.log(`${print(parse(entry.operation.query))}\n${JSON.stringify({ operationName: entry.operation.operationName, variableSets: entry.operation.variableSets }, null, 1)}`);
  });

  it('writes only the kinds asked for', () => {
    for (const operation of sample({ kinds: ['subscription'] }, SEED, 100)) {
      expect(operation.kind).toBe('subscription');
      if (operation.intent !== 'valid') continue;
      const selected = selectedOperation(parse(operation.query), operation.operationName);
      expect(selected.operation).toBe('subscription');
      expect(selected.selectionSet.selections).toHaveLength(1);
      expect(validate(schema, parse(operation.query)).map(String)).toEqual([]);
    }
    for (const operation of sample({ kinds: ['query'] }, SEED, 100)) expect(operation.kind).toBe('query');
  });

  it('is the same for the same seed', () => {
    expect(sample(undefined, 7, 60)).toEqual(sample(undefined, 7, 60));
    expect(sample(undefined, 8, 20)).not.toEqual(sample(undefined, 7, 20));
  });
});
