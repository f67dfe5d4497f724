// Writes prisma/schema.sql: the schema the migrations build, read back from a fresh in-memory database
// (committed; test/databaseSchema.test.ts fails when it drifts).
import { writeFileSync } from 'node:fs';
import { PGlite } from '@electric-sql/pglite';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { schemaText } from '../src/db/schemaText.ts';

const pglite = new PGlite();
const db = await openDatabase({ pglite });
await migrate(db);
writeFileSync(new URL('../prisma/schema.sql', import.meta.url), await schemaText(db));
await db.close();
await pglite.close();
console.log('prisma/schema.sql written');
