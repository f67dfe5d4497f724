import { styleText } from 'node:util';
import { pointerSegments } from '@confighub/client';
import { CliError } from './errors.ts';

/** One RFC 6902 operation as the hub reports it. */
export interface PatchOperation {
  op: string;
  path: string;
  from?: string | null;
  value?: unknown;
}

/** What `-o` asks for: text (tables and documents) for people, JSON or YAML for scripts. */
export type OutputFormat = 'text' | 'json' | 'yaml';
export const OUTPUT_FORMATS: Record<string, OutputFormat> = { text: 'text', table: 'text', json: 'json', yaml: 'yaml' };

/**
 * Where the CLI writes: results on stdout (JSON or YAML with `-o json|yaml`, text for people otherwise),
 * notes and errors on stderr. In JSON or YAML, stdout carries nothing but the result.
 */
export class Output {
  private readonly color: boolean;
  private yaml: typeof import('yaml') | undefined;

  constructor(readonly format: OutputFormat) {
    this.color = format === 'text' && Boolean(process.stdout.isTTY) && !process.env.NO_COLOR;
  }

  /** True for JSON and YAML: output for a program, not a person. */
  get json(): boolean {
    return this.format !== 'text';
  }

  /** Loads what the format needs (YAML's library, only when asked for). */
  async prepare(): Promise<void> {
    if (this.format === 'yaml') this.yaml ??= await import('yaml');
  }

  private serialize(value: unknown, oneLine: boolean): string {
    if (this.format === 'yaml') return this.yaml!.stringify(value, { lineWidth: 0 });
    return `${JSON.stringify(value, null, oneLine ? undefined : 2)}\n`;
  }

  /** The result of a command: `machine` as JSON or YAML (without GraphQL's `__typename`), `human()` as text. */
  result(machine: unknown, human: () => string): void {
    if (this.json) process.stdout.write(this.serialize(withoutTypename(machine), false));
    else {
      const text = human();
      if (text) process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
    }
  }

  /** One value per line in JSON, one document each in YAML (streams such as `watch`), text otherwise. */
  line(machine: unknown, human: () => string): void {
    if (this.format === 'yaml') process.stdout.write(`---\n${this.serialize(withoutTypename(machine), true)}`);
    else if (this.json) process.stdout.write(this.serialize(withoutTypename(machine), true));
    else process.stdout.write(`${human()}\n`);
  }

  /** A note for a person (progress, hints); never on stdout, silent in JSON or YAML. */
  note(text: string): void {
    if (!this.json) process.stderr.write(`${text}\n`);
  }

  error(error: CliError): void {
    if (this.json) {
      process.stderr.write(this.serialize({ error: { code: error.code, message: error.message, details: error.details } }, true));
      return;
    }
    process.stderr.write(`confighub: ${error.message}\n`);
    for (const detail of error.details) process.stderr.write(`  ${detail}\n`);
  }

  paint(text: string, color: 'red' | 'green' | 'yellow' | 'dim' | 'bold'): string {
    return this.color ? styleText(color, text) : text;
  }

  /**
   * RFC 6902 operations, one a line: `+ /path: value`, `- /path: old`, `~ /path: old -> new` (old values
   * read from `before`, the document the operations apply to, when given); the first ones of a patch of
   * `total` (the hub sends a long patch in pages) end with how many more there are.
   */
  patch(operations: readonly PatchOperation[], indent = '', total = operations.length, before?: unknown): string {
    if (operations.length === 0) return `${indent}${this.paint('(no changes)', 'dim')}`;
    const more = total > operations.length ? [`${indent}${this.paint(`... and ${total - operations.length} more operations`, 'dim')}`] : [];
    const old = (path: string) => (before === undefined ? undefined : valueAtPointer(before, path));
    const lines = operations
      .map((operation) => {
        const value = operation.value === undefined ? '' : compact(operation.value);
        const previous = old(operation.path);
        switch (operation.op) {
          case 'add':
            return `${indent}${this.paint(`+ ${operation.path}: ${value}`, 'green')}`;
          case 'remove':
            return `${indent}${this.paint(`- ${operation.path}${previous === undefined ? '' : `: ${compact(previous)}`}`, 'red')}`;
          case 'replace':
            return `${indent}${this.paint(`~ ${operation.path}: ${previous === undefined ? '' : `${compact(previous)} -> `}${value}`, 'yellow')}`;
          default:
            return `${indent}${operation.op} ${operation.from ? `${operation.from} -> ` : ''}${operation.path}${value ? `: ${value}` : ''}`;
        }
      });
    return [...lines, ...more].join('\n');
  }
}

/**
 * A result without GraphQL's `__typename` (on it, or on each item of a list); what it carries, config
 * documents included, is left as it is.
 */
function withoutTypename(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutTypename);
  if (value === null || typeof value !== 'object' || !('__typename' in value)) return value;
  const { __typename: _typename, ...rest } = value as Record<string, unknown>;
  return rest;
}

/** A setting's name as people write it (`/operational/batch_size` -> `operational.batch_size`). */
export const settingName = (pointer: string) => pointerSegments(pointer).join('.');

/** The value at a JSON pointer (RFC 6901), or undefined where there is none. */
function valueAtPointer(document: unknown, pointer: string): unknown {
  let node: unknown = document;
  for (const key of pointerSegments(pointer)) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

/** A value on one line, as JSON. */
export function compact(value: unknown): string {
  return JSON.stringify(value) ?? 'undefined';
}

/** Left-aligned columns with a header row. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => (row[column] ?? '').length)));
  const format = (row: string[]) =>
    row
      .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column]!)))
      .join('  ')
      .trimEnd();
  return [format(header), ...rows.map(format)].join('\n');
}

/** `2026-11-26T20:47:17.008Z` as `2026-11-26 20:47:17Z`. */
export function shortTime(iso: string | null | undefined): string {
  if (!iso) return '-';
  return iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}
