#!/usr/bin/env node
// The `confighub` command: runs the TypeScript sources of this checkout through tsx (no build step).
import { fileURLToPath } from 'node:url';
import { register } from 'tsx/esm/api';

// This checkout's tsconfig wherever the command runs: its `paths` resolve @confighub/client to the source.
register({ tsconfig: fileURLToPath(new URL('../tsconfig.json', import.meta.url)) });
const { main } = await import('../src/cli/main.ts');
// The CLI imports no server: `confighub serve` starts the gateway this package brings.
await main(process.argv.slice(2), { packageJson: new URL('../package.json', import.meta.url), startGateway: () => import('../src/main.ts') });
