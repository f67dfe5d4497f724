// Durations as people write them: `500ms`, `30s`, `90m`, `12h`, `30d`, `8w` (the CLI's --timeout and
// --expires-in, the API's expiresIn).

const UNITS = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 } as const;
type Unit = keyof typeof UNITS;

/**
 * A duration in milliseconds, or NaN when `text` is not one. A number without a unit counts in `bare`
 * (without `bare`, a unit is required).
 */
export function durationMs(text: string, bare?: Unit): number {
  const match = /^(\d{1,9}(?:\.\d+)?)(ms|s|m|h|d|w)?$/.exec(text.trim());
  const unit = (match?.[2] as Unit | undefined) ?? bare;
  return match && unit ? Number(match[1]) * UNITS[unit] : Number.NaN;
}
