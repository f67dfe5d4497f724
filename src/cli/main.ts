import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import type { Command, CommandContext, OptionSpec } from './command.ts';
import { getCommand } from './commands/get.ts';
import { initCommand } from './commands/init.ts';
import { instancesCommand } from './commands/instances.ts';
import { requestsCommand } from './commands/requests.ts';
import { rolloutCommand } from './commands/rollout.ts';
import { createCommand, deleteCommand, restoreCommand } from './commands/lifecycle.ts';
import { blameCommand, diffCommand, historyCommand, rollbackCommand } from './commands/history.ts';
import { exportCommand, importCommand } from './commands/exchange.ts';
import { listCommand } from './commands/list.ts';
import { schemaCommand } from './commands/schema.ts';
import { serveCommand } from './commands/serve.ts';
import { patchCommand, setCommand } from './commands/set.ts';
import { tokensCommand, whoamiCommand } from './commands/tokens.ts';
import { typesCommand } from './commands/types.ts';
import { watchCommand } from './commands/watch.ts';
import { CliError, ExitCode, usageError } from './errors.ts';
import { resolveConnection } from './connection.ts';
import { activeContext } from './contexts.ts';
import { contextCommand } from './commands/context.ts';
import { catalogCommand } from './commands/catalog.ts';
import { completionCommand } from './commands/completion.ts';
import { OUTPUT_FORMATS, Output, type OutputFormat } from './output.ts';

const commands: Command[] = [
  serveCommand,
  initCommand,
  getCommand,
  listCommand,
  createCommand,
  setCommand,
  patchCommand,
  deleteCommand,
  restoreCommand,
  historyCommand,
  diffCommand,
  blameCommand,
  rollbackCommand,
  watchCommand,
  instancesCommand,
  requestsCommand,
  rolloutCommand,
  tokensCommand,
  whoamiCommand,
  contextCommand,
  schemaCommand,
  typesCommand,
  catalogCommand,
  exportCommand,
  importCommand,
];

/** Options every command that talks to a hub understands. */
const commonOptions: Record<string, OptionSpec> = {
  url: { type: 'string' },
  token: { type: 'string' },
  env: { type: 'string', short: 'e' },
  json: { type: 'boolean' },
  output: { type: 'string', short: 'o' },
  timeout: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
};

commands.push(completionCommand(commands, commonOptions));

const EXIT_CODES = `Exit codes:
  0  ok
  1  usage error, cancelled, or an unexpected failure
  2  not found (service, config, version, schema or token)
  3  refused: version conflict, validation error or suspected secret (nothing written)
  4  authentication or permission refused
  5  hub unreachable or timed out
  6  out of date: a generated file no longer matches the hub (types --check)
  7  written, but instances running the config refused the new version (set, patch; --no-wait skips the check)`;

function usage(): string {
  const width = Math.max(...commands.map((command) => command.name.length));
  return `Usage: confighub <command> [options]

Commands:
${commands.map((command) => `  ${command.name.padEnd(width)}  ${command.summary}`).join('\n')}

Options:
  --url URL             the hub (default: CONFIGHUB_URL or http://127.0.0.1:4000)
  --token TOKEN         API token (default: CONFIGHUB_TOKEN or <CONFIGHUB_DATA_DIR or ./.confighub>/admin-token)
  -e, --env NAME        environment (default: CONFIGHUB_ENVIRONMENT or production)
  -o, --output FORMAT   text (tables and documents, the default; also: table), json or yaml on stdout
  --json                the same as -o json
  --timeout DURATION    how long one request may take: 30s, 500ms, 2m (default: CONFIGHUB_TIMEOUT or 15s)

The hub, token and environment may also come from a context: confighub context set|use|list.
  -h, --help            help for a command: confighub help <command>, or confighub <command> --help

Options may come before or after the command.

${EXIT_CODES}
`;
}

function commandHelp(command: Command): string {
  const own = Object.entries(command.options ?? {}).map(([name, spec]) => `--${name}${spec.type === 'string' ? ' VALUE' : ''}`);
  return `Usage: confighub ${command.usage}

${command.summary}
${own.length ? `\nOptions: ${own.join(', ')}\n` : ''}Common options: --url, --token, --env/-e, -o json|yaml|text, --json, --timeout

${EXIT_CODES}
`;
}

/** What the program running the CLI brings: its package's version, the gateway for `serve` (the CLI itself imports no server). */
export interface CliHost {
  packageJson?: URL;
  startGateway?: () => Promise<unknown>;
}

function version(host: CliHost): string {
  if (!host.packageJson) return 'unknown';
  return (JSON.parse(readFileSync(host.packageJson, 'utf8')) as { version: string }).version;
}

/** Runs one command line; returns the exit code (errors are printed, never thrown). */
export async function runCli(argv: string[], host: CliHost = {}): Promise<number> {
  let output = new Output(argv.includes('--json') ? 'json' : 'text');
  try {
    const { name, rest, format } = commandLine(argv);
    output = new Output(format);
    await output.prepare();
    if (name === undefined && (rest.includes('--version') || rest.includes('-V'))) {
      process.stdout.write(`${version(host)}\n`);
      return ExitCode.OK;
    }
    if (name === 'help' && rest[0] !== undefined && !rest[0].startsWith('-')) {
      const command = commands.find((candidate) => candidate.name === rest[0]);
      if (!command) throw usageError(`unknown command "${rest[0]}" (confighub --help lists them)`);
      process.stdout.write(commandHelp(command));
      return ExitCode.OK;
    }
    if (name === undefined || name === 'help') {
      const asked = name === 'help' || rest.includes('--help') || rest.includes('-h');
      (asked ? process.stdout : process.stderr).write(usage());
      return asked ? ExitCode.OK : ExitCode.USAGE;
    }
    const command = commands.find((candidate) => candidate.name === name);
    if (!command) throw usageError(`unknown command "${name}" (confighub --help lists them)`);
    const context = { ...(command.rawArgs ? rawContext(rest, output) : parseContext(command, rest, output)), startGateway: host.startGateway };
    if (command.rawArgs ? rest.includes('--help') || rest.includes('-h') : context.options.help) {
      process.stdout.write(commandHelp(command));
      return ExitCode.OK;
    }
    await command.run(context);
    return ExitCode.OK;
  } catch (error) {
    const failure = asCliError(error);
    output.error(failure);
    return failure.exitCode;
  }
}

/**
 * The command's name, the rest of the line and the output format `-o`/`--output` (or `--json`) asks for:
 * common options may come before the command (`confighub --json -e staging get svc`), as after it.
 */
function commandLine(argv: string[]): { name: string | undefined; rest: string[]; format: OutputFormat } {
  const { tokens } = parseArgs({ args: argv, options: commonOptions, strict: false, allowPositionals: true, tokens: true });
  let asked: string | undefined;
  for (const token of tokens) {
    if (token.kind === 'option' && token.name === 'json') asked = 'json';
    else if (token.kind === 'option' && token.name === 'output') asked = token.value ?? '';
  }
  const format = OUTPUT_FORMATS[asked ?? 'text'];
  if (!format) throw usageError(`-o must be text, table, json or yaml, not "${asked}"`);
  const command = tokens.find((token) => token.kind === 'positional');
  if (!command) return { name: undefined, rest: argv, format };
  return { name: command.value, rest: argv.toSpliced(command.index, 1), format };
}

function parseContext(command: Command, args: string[], output: Output): CommandContext {
  const { values, positionals } = parseArgs({ args, options: { ...commonOptions, ...command.options }, allowPositionals: true, strict: true });
  const environment = typeof values.env === 'string' ? values.env : process.env.CONFIGHUB_ENVIRONMENT || activeContext()?.environment || 'production';
  if (!environment.trim()) throw usageError('--env must not be empty');
  let connection: ReturnType<typeof resolveConnection> | undefined;
  return {
    args: positionals,
    options: values,
    environment,
    environmentGiven: values.env !== undefined || Boolean(process.env.CONFIGHUB_ENVIRONMENT),
    output,
    hub: () => (connection ??= resolveConnection({ url: values.url as string | undefined, token: values.token as string | undefined, timeout: values.timeout as string | undefined })),
  };
}

function rawContext(args: string[], output: Output): CommandContext {
  return {
    args,
    options: {},
    environment: 'production',
    environmentGiven: false,
    output,
    hub: () => resolveConnection({}),
  };
}

function asCliError(error: unknown): CliError {
  if (error instanceof CliError) return error;
  const code = (error as NodeJS.ErrnoException)?.code;
  // node:util parseArgs: unknown options, missing values...
  if (typeof code === 'string' && code.startsWith('ERR_PARSE_ARGS')) return usageError((error as Error).message);
  return new CliError((error as Error)?.stack ?? String(error), ExitCode.USAGE, 'INTERNAL');
}

/**
 * The `confighub` process: runs the command line and exits with its code once stdout is flushed;
 * `serve` leaves the process to the gateway it started.
 */
export async function main(argv: string[] = process.argv.slice(2), host: CliHost = {}): Promise<void> {
  const code = await runCli(argv, host);
  if (argv[0] === 'serve' && code === ExitCode.OK) return;
  // Exit rather than wait for idle keep-alive sockets to time out; after stdout has taken everything.
  process.stdout.write('', () => process.exit(code));
}

// Run when executed directly (`tsx src/cli/main.ts ...`); bin/confighub.mjs calls main() itself.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void main(undefined, { packageJson: new URL('../../package.json', import.meta.url) });
