import { createInterface } from 'node:readline/promises';
import type { ParseArgsConfig } from 'node:util';
import type { HubConnection } from '@confighub/client';
import { CliError, ExitCode, usageError } from './errors.ts';
import type { Output } from './output.ts';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>[string];
export type OptionValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** What a command gets: its arguments, the parsed options, where to write and how to reach the hub. */
export interface CommandContext {
  /** Positional arguments after the command's name. */
  args: string[];
  options: OptionValues;
  /** `--env`/`-e`. @default 'production' */
  environment: string;
  /** True when `--env` was given (import then prefers it to the file's environment). */
  environmentGiven: boolean;
  output: Output;
  /** The hub connection (resolved on first use: `serve` never needs one). */
  hub(): HubConnection;
  /** Starts a gateway in this process (`serve`), when the program that runs the CLI has one (bin/confighub.mjs). */
  startGateway?: () => Promise<unknown>;
}

export interface Command {
  name: string;
  /** e.g. `get <service> [--version N]` */
  usage: string;
  summary: string;
  /** Options beyond the common ones (--url, --token, --env, --json, --help). */
  options?: Record<string, OptionSpec>;
  /** The words its first argument may be (`tokens create|rotate|...`), for completion. */
  actions?: readonly string[];
  /** Takes its own arguments unparsed (serve). */
  rawArgs?: boolean;
  run(context: CommandContext): Promise<void>;
}

/** Options several commands share. */
export const reasonOption = { reason: { type: 'string' } } satisfies Record<string, OptionSpec>;
/** A temporary override: the hub reverts the change this long after it (`90m`, `2h`, `3d`). */
export const expiresInOption = { 'expires-in': { type: 'string' } } satisfies Record<string, OptionSpec>;
export const expectedVersionOption = { 'expected-version': { type: 'string' } } satisfies Record<string, OptionSpec>;
export const dryRunOption = { 'dry-run': { type: 'boolean' } } satisfies Record<string, OptionSpec>;
/** In a protected environment: write at once (an admin, with --reason), or how long the change request stays open. */
export const protectedOptions = { 'break-glass': { type: 'boolean' }, 'request-expires-in': { type: 'string' } } satisfies Record<string, OptionSpec>;
/** Serve the change in steps: `--rollout 10,50,100 --bake 5m [--max-errors N]`. */
export const rolloutOptions = { rollout: { type: 'string' }, bake: { type: 'string' }, 'max-errors': { type: 'string' } } satisfies Record<string, OptionSpec>;

/** The positional arguments a command needs, by name; too few or too many is a usage error. */
export function takeArgs(context: CommandContext, names: string[], optional: string[] = []): string[] {
  const { args } = context;
  if (args.length < names.length) throw usageError(`missing ${names.slice(args.length).map((name) => `<${name}>`).join(' ')}`);
  if (args.length > names.length + optional.length) throw usageError(`unexpected argument "${args[names.length + optional.length]}"`);
  return args;
}

export function stringOption(context: CommandContext, name: string): string | undefined {
  const value = context.options[name];
  return typeof value === 'string' ? value : undefined;
}

/** A whole-number option (`--expected-version 3`); a malformed one is a usage error. */
export function intOption(context: CommandContext, name: string, minimum = 0): number | undefined {
  const value = stringOption(context, name);
  return value === undefined ? undefined : parseInteger(value, `--${name}`, minimum);
}

export function parseInteger(text: string, what: string, minimum = 0): number {
  if (!/^-?\d+$/.test(text.trim())) throw usageError(`${what} must be a whole number, not "${text}"`);
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < minimum) throw usageError(`${what} must be at least ${minimum}, not ${text}`);
  return value;
}

/** A comma-separated list option (`--services a,b`), undefined when not given. */
export function listOption(context: CommandContext, name: string): string[] | undefined {
  const value = context.options[name];
  const parts = (Array.isArray(value) ? value : [value]).flatMap((item) => (typeof item === 'string' ? item.split(',') : []));
  const items = parts.map((item) => item.trim()).filter(Boolean);
  return value === undefined ? undefined : items;
}

/**
 * Goes on with --yes, or once a person answers yes on a terminal; otherwise refuses (exit 1) before
 * anything is written. `action` names what is refused ("change 3 configs"), `command` what is cancelled.
 * A command reading its input from stdin cannot also ask there (`stdinTaken`).
 */
export async function confirmed(context: CommandContext, question: string, action: string, command: string, stdinTaken = false): Promise<void> {
  if (context.options.yes) return;
  if (!process.stdin.isTTY || stdinTaken) throw usageError(`refusing to ${action} without confirmation: add --yes (stdin is not a terminal)`);
  const prompt = createInterface({ input: process.stdin, output: process.stderr });
  const answer = await prompt.question(`${question} [y/N] `).finally(() => prompt.close());
  if (!/^y(es)?$/i.test(answer.trim())) throw new CliError(`${command} cancelled; nothing written`, ExitCode.USAGE, 'CANCELLED');
}
