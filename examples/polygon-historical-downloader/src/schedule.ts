/**
 * Runs a task every `intervalMs()`, measured from the start of the previous run. `reschedule()` applies
 * a new interval at once: the next run moves to last start + new interval (now, if that has passed).
 * Runs never overlap.
 */
export class IntervalSchedule {
  private timer: NodeJS.Timeout | undefined;
  private lastStart = 0;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly task: () => Promise<void>,
    private readonly intervalMs: () => number,
    private readonly onError: (error: unknown) => void,
  ) {}

  /** Runs the task now, then on schedule. */
  start(): void {
    this.runNow();
  }

  /** When the next run is due (null before the first run). */
  get nextRunAt(): Date | null {
    return this.lastStart === 0 ? null : new Date(this.lastStart + this.intervalMs());
  }

  reschedule(): void {
    // Not started yet: start() runs first. Running: the run in progress schedules the next one when it ends.
    if (this.stopped || this.running || this.lastStart === 0) return;
    clearTimeout(this.timer);
    const delay = Math.max(0, this.lastStart + this.intervalMs() - Date.now());
    this.timer = setTimeout(() => this.runNow(), delay);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private runNow(): void {
    if (this.stopped) return;
    this.lastStart = Date.now();
    this.running = this.task()
      .catch(this.onError)
      .finally(() => {
        this.running = undefined;
        this.reschedule();
      });
  }
}
