// The attackers of bench/abuse.ts: a few connections, each sending its input back to back until the
// phase's time is up, then waiting for its last answer. HTTP goes through node:http (one keep-alive
// socket per connection, so a refusal that closes the connection costs the attacker a reconnect, as it
// would cost a real one); WebSockets speak graphql-ws (graphql-transport-ws) through `ws`.
import http from 'node:http';
import { performance } from 'node:perf_hooks';
import WebSocket from 'ws';

/** One HTTP request an attacker sends. */
export interface HttpRequestSpec {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: Buffer;
}

/** What a phase's attackers did: requests (or WebSocket operations) sent and how each was answered. */
export interface AttackResult {
  sent: number;
  /** Answers by outcome ("200 SecretRejectedError", "413 PAYLOAD_TOO_LARGE", "close 1009", "error ECONNRESET"). */
  outcomes: Map<string, number>;
  /** Bytes sent in request bodies or WebSocket messages. */
  bytesSent: number;
  /** Longest time one request or operation took to be answered, ms. */
  slowestMs: number;
  seconds: number;
}

/** A WebSocket attacker's loop; `record` counts one answered operation. */
export type WebSocketSession = (context: WebSocketContext) => Promise<void>;

export interface WebSocketContext {
  /** ws://host:port/graphql */
  url: string;
  /** Keep going while this is true. */
  running(): boolean;
  record(outcome: string, bytesSent: number, startedAt: number): void;
}

export type Attack =
  | { kind: 'http'; connections: number; next: (sequence: number) => HttpRequestSpec }
  | { kind: 'ws'; connections: number; session: WebSocketSession };

/** Longest wait for one answer: a hostile history page can take seconds on a busy machine. */
const ANSWER_TIMEOUT_MS = 120_000;
/** How much of an answer is kept to tell outcomes apart. */
const HEAD_BYTES = 4096;

/** "200 SecretRejectedError": the status and the first GraphQL type or error code of the answer. */
export function outcomeOf(status: number | string, head: string): string {
  const kind = /"__typename":"(\w+)"/.exec(head)?.[1] ?? /"code":"([A-Z_]+)"/.exec(head)?.[1];
  return kind ? `${status} ${kind}` : String(status);
}

/** Runs `attack` against `baseUrl` for `seconds`, then waits for every answer still owed. */
export async function runAttack(baseUrl: string, attack: Attack, seconds: number): Promise<AttackResult> {
  const outcomes = new Map<string, number>();
  let sent = 0;
  let bytesSent = 0;
  let slowestMs = 0;
  const started = performance.now();
  const endsAt = started + seconds * 1000;
  const running = () => performance.now() < endsAt;
  const record = (outcome: string, bytes: number, startedAt: number) => {
    sent++;
    bytesSent += bytes;
    slowestMs = Math.max(slowestMs, performance.now() - startedAt);
    outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
  };
  let sequence = 0;
  const connection = async () => {
    if (attack.kind === 'ws') {
      const url = `${baseUrl.replace(/^http/, 'ws')}/graphql`;
      await attack.session({ url, running, record });
      return;
    }
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    try {
      while (running()) {
        const spec = attack.next(sequence++);
        const startedAt = performance.now();
        const outcome = await sendHttp(baseUrl, spec, agent);
        record(outcome, spec.body?.length ?? 0, startedAt);
      }
    } finally {
      agent.destroy();
    }
  };
  await Promise.all(Array.from({ length: attack.connections }, connection));
  return { sent, outcomes, bytesSent, slowestMs, seconds: (performance.now() - started) / 1000 };
}

/** Sends one request and reads the whole answer (keeping its head); resolves with its outcome, never rejects. */
export function sendHttp(baseUrl: string, spec: HttpRequestSpec, agent?: http.Agent): Promise<string> {
  return new Promise((resolve) => {
    const headers: Record<string, string | number> = { ...spec.headers };
    if (spec.body) headers['content-length'] = spec.body.length;
    const request = http.request(`${baseUrl}${spec.path}`, { method: spec.method, headers, agent, timeout: ANSWER_TIMEOUT_MS });
    request.on('response', (response) => {
      const chunks: Buffer[] = [];
      let kept = 0;
      response.on('data', (chunk: Buffer) => {
        if (kept < HEAD_BYTES) {
          chunks.push(chunk);
          kept += chunk.length;
        }
      });
      response.on('end', () => resolve(outcomeOf(response.statusCode ?? 0, Buffer.concat(chunks).subarray(0, HEAD_BYTES).toString('utf8'))));
      response.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    });
    request.on('timeout', () => request.destroy(new Error('timeout')));
    request.on('error', (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    request.end(spec.body);
  });
}

/** A graphql-ws message the server sends. */
export interface ServerMessage {
  type: string;
  id?: string;
  payload?: unknown;
}

/**
 * One graphql-transport-ws socket: `open` resolves once the server acknowledged connection_init;
 * `operation` sends a subscribe and resolves with its first answer (next, error or complete).
 */
export class GraphQLSocket {
  private readonly waiting = new Map<string, (message: ServerMessage) => void>();
  private readonly listeners = new Set<(message: ServerMessage) => void>();
  private nextId = 0;
  /** Resolves with the close code once the socket is closed. */
  readonly closed: Promise<number>;

  private constructor(readonly socket: WebSocket) {
    this.closed = new Promise((resolve) => socket.once('close', (code) => resolve(code)));
    socket.on('error', () => {});
    socket.on('message', (data) => {
      let message: ServerMessage;
      try {
        message = JSON.parse(String(data)) as ServerMessage;
      } catch {
        return;
      }
      for (const listener of this.listeners) listener(message);
      if (message.id !== undefined && (message.type === 'next' || message.type === 'error' || message.type === 'complete')) {
        const waiter = this.waiting.get(message.id);
        if (waiter) {
          this.waiting.delete(message.id);
          waiter(message);
        }
      }
      if (message.type === 'ping') socket.send(JSON.stringify({ type: 'pong' }));
    });
    // A socket that closes answers every operation still waiting with its close code.
    void this.closed.then((code) => {
      for (const waiter of this.waiting.values()) waiter({ type: `close ${code}` });
      this.waiting.clear();
    });
  }

  static async open(url: string, authorization: string | null): Promise<GraphQLSocket> {
    const socket = new WebSocket(url, 'graphql-transport-ws', { maxPayload: 512 * 1024 * 1024 });
    const client = new GraphQLSocket(socket);
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
      socket.once('unexpected-response', (_request, response) => reject(new Error(`upgrade refused: ${response.statusCode}`)));
    });
    const acknowledged = client.next((message) => message.type === 'connection_ack');
    socket.send(JSON.stringify({ type: 'connection_init', payload: authorization ? { authorization } : {} }));
    const first = await Promise.race([acknowledged, client.closed.then((code) => ({ type: `close ${code}` }))]);
    if (first.type !== 'connection_ack') throw new Error(`graphql-ws: no connection_ack (${first.type})`);
    return client;
  }

  /** The next message passing `test` (or the close, as `close <code>`). */
  next(test: (message: ServerMessage) => boolean): Promise<ServerMessage> {
    return new Promise((resolve) => {
      const listener = (message: ServerMessage) => {
        if (!test(message)) return;
        this.listeners.delete(listener);
        resolve(message);
      };
      this.listeners.add(listener);
      void this.closed.then((code) => {
        this.listeners.delete(listener);
        resolve({ type: `close ${code}` });
      });
    });
  }

  newId(): string {
    return String(++this.nextId);
  }

  /** Sends `text` (a subscribe message for `id`) and resolves with the first answer for `id`. */
  sendFor(id: string, text: string): Promise<ServerMessage> {
    const answer = new Promise<ServerMessage>((resolve) => this.waiting.set(id, resolve));
    this.socket.send(text);
    return answer;
  }

  /** Calls `listener` with every message until the returned function is called. */
  listen(listener: (message: ServerMessage) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The messages for `id` until `until` nexts came, or its complete, an error or the close: how many
   * nexts, and the message that ended the wait.
   */
  collect(id: string, until = Number.POSITIVE_INFINITY): Promise<{ nexts: number; ending: ServerMessage }> {
    return new Promise((resolve) => {
      let nexts = 0;
      const listener = (message: ServerMessage) => {
        if (message.id !== id) return;
        if (message.type === 'next') nexts++;
        if (message.type !== 'next' || nexts >= until) {
          this.listeners.delete(listener);
          resolve({ nexts, ending: message });
        }
      };
      this.listeners.add(listener);
      void this.closed.then((code) => {
        this.listeners.delete(listener);
        resolve({ nexts, ending: { type: `close ${code}` } });
      });
    });
  }

  send(text: string): void {
    this.socket.send(text);
  }

  async close(): Promise<void> {
    if (this.socket.readyState === WebSocket.CLOSED) return;
    this.socket.close(1000);
    const timer = setTimeout(() => this.socket.terminate(), 5_000);
    await this.closed;
    clearTimeout(timer);
  }
}

/** "next ValidationError", "error BAD_USER_INPUT", "close 1009": how a graphql-ws operation was answered. */
export function wsOutcomeOf(message: ServerMessage): string {
  if (message.type !== 'next' && message.type !== 'error') return message.type;
  return outcomeOf(message.type, JSON.stringify(message.payload ?? null).slice(0, HEAD_BYTES));
}
