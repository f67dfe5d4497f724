// Small helpers for summarizing and printing measurements.
import { cpus, loadavg } from 'node:os';

export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** 1234.5 -> "1,235" */
export const perSecond = (value: number) => Math.round(value).toLocaleString('en-US');

export const ratio = (value: number) => `${value.toFixed(2)}x`;

export const ms = (value: number) => `${value.toFixed(1)} ms`;

/** Reads a whole-number setting from the environment, clamped to [min, max]. */
export function intSetting(name: string, fallback: number, min: number, max: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw.trim() === '' ? fallback : Number.parseInt(raw, 10);
  if (!Number.isFinite(value)) throw new Error(`${name} must be a whole number, not ${JSON.stringify(raw)}`);
  return Math.min(max, Math.max(min, value));
}

/** One line about the machine: the figures mean little without it on a shared 2-core box. */
export function describeMachine(): string {
  const [one, five] = loadavg();
  return `${new Date().toISOString()}, node ${process.versions.node}, ${cpus().length} cores (${cpus()[0]?.model.trim() ?? 'unknown'}), load average ${one!.toFixed(2)} / ${five!.toFixed(2)} (1 / 5 min)`;
}

/** Left-aligned first column, right-aligned others. */
export function table(header: string[], rows: string[][]): string {
  const widths = header.map((cell, column) => Math.max(cell.length, ...rows.map((row) => (row[column] ?? '').length)));
  const line = (cells: string[]) =>
    cells.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]!) : cell.padStart(widths[column]!))).join('  ');
  return [line(header), widths.map((width) => '-'.repeat(width)).join('  '), ...rows.map(line)].join('\n');
}
