import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { schemaText } from '../src/db/schemaText.ts';
import { openTestDatabase } from './support/databases.ts';

describe('the database schema', () => {
  it('matches the committed prisma/schema.sql', async () => {
    const db = await openTestDatabase('pglite');
    try {
      const committed = readFileSync(new URL('../prisma/schema.sql', import.meta.url), 'utf8');
      expect(await schemaText(db), 'prisma/schema.sql is out of date: run `npm run schema:sql` and commit it').toBe(committed);
    } finally {
      await db.close();
    }
  });
});
