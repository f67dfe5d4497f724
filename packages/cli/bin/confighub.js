#!/usr/bin/env node
// The `confighub` command, installed: the CLI compiled to JavaScript (this package has no gateway to serve).
import { main } from '../dist/main.js';

await main(process.argv.slice(2), { packageJson: new URL('../package.json', import.meta.url) });
