// Prints the Pothos schema to schema.graphql (committed; test/schema.test.ts fails when it drifts).
import { writeFileSync } from 'node:fs';
import { printedSchema } from '../src/graphql/index.ts';

writeFileSync(new URL('../schema.graphql', import.meta.url), printedSchema());
console.log('schema.graphql written');
