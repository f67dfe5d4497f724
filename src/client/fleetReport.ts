import type { ReportInstanceInput } from './generated/graphql.ts';
import { ReportInstance } from './operations.ts';
import { type HubConnection, hubRequest } from './transport.ts';

// The client's side of the hub's fleet report: tells the hub which version this instance runs, or
// why it refused one. One request at a time; the latest state wins; an unchanged state is not sent
// again except as a heartbeat.

/** The longest error text the hub keeps for an instance (UTF-8 bytes); a longer one is cut here. */
const MAX_ERROR_BYTES = 2048;

/** An error message as the hub takes it: text only (no NUL, no lone surrogate), cut to the limit. */
export function reportableError(message: string | null | undefined): string | null {
  if (message == null) return null;
  let text = message.replaceAll('\u0000', '').toWellFormed();
  while (Buffer.byteLength(text) > MAX_ERROR_BYTES) text = text.slice(0, Math.floor(text.length * 0.9)).toWellFormed();
  return text;
}

export class FleetReporter {
  private sending: Promise<void> | undefined;
  private pending: { input: () => ReportInstanceInput; heartbeat: boolean } | undefined;
  private lastSent = '';

  constructor(
    private readonly hub: HubConnection,
    private readonly signal: AbortSignal,
  ) {}

  /** Sends the state `input()` describes when the request goes out; `heartbeat` sends it even if unchanged. */
  report(input: () => ReportInstanceInput, heartbeat = false): void {
    if (this.signal.aborted) return;
    if (this.sending) {
      // The report on its way is the heartbeat: what follows it is sent only if the state changed.
      this.pending = { input, heartbeat: false };
      return;
    }
    const state = input();
    const fingerprint = JSON.stringify(state);
    if (!heartbeat && fingerprint === this.lastSent) return;
    this.sending = hubRequest(this.hub, ReportInstance, { input: state }, this.signal)
      .then(
        (data) => {
          if (data.reportInstance.__typename === 'ConfigInstance') this.lastSent = fingerprint;
        },
        // The hub is away: the next report (at the latest the next successful fetch) tries again.
        () => {},
      )
      .finally(() => {
        this.sending = undefined;
        const next = this.pending;
        this.pending = undefined;
        if (next) this.report(next.input, next.heartbeat);
      });
  }

  /** Resolves once no report is on the way. */
  async settled(): Promise<void> {
    while (this.sending) await this.sending;
  }
}
