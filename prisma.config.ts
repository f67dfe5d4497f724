import { defineConfig } from 'prisma/config';

// The gateway applies migrations itself at start-up (src/db/migrate.ts); this file serves the
// Prisma CLI (generate, validate, and migrate where its engine is available).
export default defineConfig({
  schema: 'schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? 'postgresql://localhost:5432/confighub' },
});
