import { readFileSync } from 'node:fs';
import { Kind, parse, validate } from 'graphql';
import { describe, expect, it } from 'vitest';
import * as cliOperations from '../src/cli/operations.ts';
import * as clientOperations from '../src/client/operations.ts';
import { printedSchema, schema } from '../src/graphql/index.ts';

describe('schema', () => {
  it('matches the committed schema.graphql', () => {
    // The text scripts/print-schema.ts writes.
    const printed = printedSchema();
    const committed = readFileSync(new URL('../schema.graphql', import.meta.url), 'utf8');
    expect(printed, 'schema.graphql is out of date: run `npm run schema:print` and commit it').toBe(committed);
  });

  // The fragment is validated inside the operations that spread it; alone it would be an unused fragment.
  const documents = [...Object.entries(clientOperations), ...Object.entries(cliOperations)]
    .map(([name, document]) => ({ name, ast: parse(String(document)) }))
    .filter(({ ast }) => ast.definitions.some((definition) => definition.kind === Kind.OPERATION_DEFINITION));

  it('the client and the CLI define their operations', () => {
    expect(documents.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['ClientConfig', 'ClientConfigChanged', 'ReportInstance', 'GetConfig', 'UpdateConfig', 'RollbackConfig', 'ConfigHistory', 'ConfigDiff']),
    );
  });

  it.each(documents)('operation $name validates against the schema', ({ ast }) => {
    expect(validate(schema, ast).map((error) => error.message)).toEqual([]);
  });
});
