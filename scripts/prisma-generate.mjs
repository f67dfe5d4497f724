// Generates the Prisma client and the Pothos types after `npm install`, then the typed GraphQL documents.
// Prisma's CLI insists on a schema-engine binary it cannot download here; `generate` does not run it,
// so any existing file satisfies the check (see STACK-NOTES).
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE = '1';
const run = (command, args) => execFileSync(command, args, { stdio: 'inherit', env });
run('npx', ['--no-install', 'prisma', 'generate']);
run('npx', ['--no-install', 'graphql-codegen', '--config', 'codegen.ts', '--silent']);
