import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  resolve: {
    // One graphql for everything: code Vite transforms would otherwise get graphql's ESM build while
    // packages Node loads (yoga, envelop) get its CommonJS build, and schemas would cross "realms".
    alias: [
      { find: /^graphql$/, replacement: createRequire(import.meta.url).resolve('graphql') },
      // The CLI imports the client by its package name, as it does once packed; here that is the source.
      { find: /^@confighub\/client$/, replacement: fileURLToPath(new URL('./src/client/index.ts', import.meta.url)) },
    ],
  },
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/support/globalSetup.ts'],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Two cores: more workers only fight over them.
    maxWorkers: 2,
    server: { deps: { inline: [/@pothos\//] } },
  },
});
