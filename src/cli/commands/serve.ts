import { parseArgs } from 'node:util';
import type { Command } from '../command.ts';
import { CliError, ExitCode, usageError } from '../errors.ts';

export const serveCommand: Command = {
  name: 'serve',
  usage: 'serve [--port N] [--host H]',
  summary: 'start the gateway (as `npm start`: configured by PORT, HOST, DATABASE_URL, NATS_URL, ...)',
  rawArgs: true,
  async run(context) {
    const { values, positionals } = parseArgs({
      args: context.args,
      options: { port: { type: 'string' }, host: { type: 'string' } },
      allowPositionals: true,
      strict: true,
    });
    if (positionals.length > 0) throw usageError(`unexpected argument "${positionals[0]}"`);
    if (values.port !== undefined) process.env.PORT = values.port;
    if (values.host !== undefined) process.env.HOST = values.host;
    if (!context.startGateway) throw new CliError('this confighub command has no gateway to start: run `npx confighub serve` or `npm start` in the confighub package', ExitCode.USAGE, 'NO_GATEWAY');
    // The gateway's own entry point (src/main.ts, brought by bin/confighub.mjs): it reads the environment,
    // listens and handles SIGTERM/SIGINT.
    await context.startGateway();
  },
};
