/**
 * A one-line progress indicator on stderr, redrawn in place; only on a terminal (never in a pipe or a
 * log), so scripts and `--json` output stay clean.
 */
export class Progress {
  private readonly enabled: boolean;
  private drawn = false;

  constructor(
    private readonly stream: NodeJS.WriteStream,
    private readonly total: number,
    private readonly label: string,
  ) {
    this.enabled = Boolean(stream.isTTY) && total > 1;
  }

  update(done: number, item: string): void {
    if (!this.enabled) return;
    const width = 20;
    const filled = Math.round((done / this.total) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    const line = `${this.label} [${bar}] ${done}/${this.total} ${item}`;
    const columns = this.stream.columns ?? 80;
    this.stream.write(`\r\u001b[2K${line.slice(0, columns - 1)}`);
    this.drawn = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.drawn) this.stream.write('\r\u001b[2K');
    this.drawn = false;
  }
}
