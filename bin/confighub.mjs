#!/usr/bin/env node
// The `confighub` command: runs the TypeScript sources of this checkout through tsx (no build step).
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/cli/main.ts');
// The CLI imports no server: `confighub serve` starts the gateway this package brings.
await main(process.argv.slice(2), { startGateway: () => import('../src/main.ts') });
