import type { Database } from './database.ts';

/**
 * The database schema the migrations build, as SQL text read back from PostgreSQL's catalog: types,
 * tables with their columns and constraints, indexes, functions and triggers, each in name order. It is
 * written to prisma/schema.sql (`npm run schema:sql`), so that the current audit trigger, say, can be
 * read in one place instead of by replaying the migrations; a test fails when it drifts.
 */
export async function schemaText(db: Pick<Database, 'query'>): Promise<string> {
  const parts: string[] = ['-- The schema prisma/migrations build, read back from the database (npm run schema:sql). Do not edit.'];

  const enums = await db.query<{ name: string; labels: string[] }>(
    `SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder) AS labels
       FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
      WHERE n.nspname = 'public' GROUP BY t.typname ORDER BY t.typname`,
  );
  for (const { name, labels } of enums) parts.push(`CREATE TYPE ${name} AS ENUM (${labels.map((label) => `'${label}'`).join(', ')});`);

  const tables = await db.query<{ name: string; oid: number }>(
    `SELECT c.relname AS name, c.oid::int AS oid FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND c.relkind = 'r' ORDER BY c.relname`,
  );
  for (const table of tables) {
    const columns = await db.query<{ line: string }>(
      `SELECT format('  %I %s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                     CASE WHEN a.attnotnull THEN ' NOT NULL' ELSE '' END,
                     CASE WHEN d.adbin IS NOT NULL THEN ' DEFAULT ' || pg_get_expr(d.adbin, d.adrelid) ELSE '' END) AS line
         FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
        WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [table.oid],
    );
    const constraints = await db.query<{ line: string }>(
      `SELECT format('  CONSTRAINT %I %s', conname, pg_get_constraintdef(oid)) AS line FROM pg_constraint WHERE conrelid = $1 AND contype <> 'n' ORDER BY conname`,
      [table.oid],
    );
    parts.push(`CREATE TABLE ${table.name} (\n${[...columns, ...constraints].map((row) => row.line).join(',\n')}\n);`);
  }

  const indexes = await db.query<{ definition: string }>(
    `SELECT indexdef AS definition FROM pg_indexes WHERE schemaname = 'public' ORDER BY tablename, indexname`,
  );
  for (const { definition } of indexes) parts.push(`${definition};`);

  const functions = await db.query<{ definition: string }>(
    `SELECT pg_get_functiondef(p.oid) AS definition FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p') ORDER BY p.proname, pg_get_function_identity_arguments(p.oid)`,
  );
  for (const { definition } of functions) parts.push(`${definition.trimEnd()};`);

  const triggers = await db.query<{ definition: string }>(
    `SELECT pg_get_triggerdef(t.oid) AS definition FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
       JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname = 'public' AND NOT t.tgisinternal ORDER BY c.relname, t.tgname`,
  );
  for (const { definition } of triggers) parts.push(`${definition};`);

  return `${parts.join('\n\n')}\n`;
}
