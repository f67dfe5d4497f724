// One subscriber process of bench/fanout.ts. It holds many graphql-ws subscriptions (the `ws` package,
// graphql-transport-ws spoken by hand: connection_init, connection_ack, subscribe) or many NATS
// subscriptions on one connection, and records when each event reaches each of them: the receipt
// time (performance.timeOrigin + performance.now()) and the version, read from the message bytes
// without JSON.parse. The parent drives it over IPC (messages below).
import { connect } from '@nats-io/transport-node';
import WebSocket from 'ws';
import { benchAuth } from './support/auth.ts';

export type ClientCommand =
  | { type: 'open-ws'; url: string; count: number; batch: number; query: string }
  | { type: 'open-nats'; url: string; count: number; subject: string }
  | { type: 'report'; version: number };

export type ClientMessage =
  | { type: 'ready'; url: string }
  | { type: 'opened'; subscribed: number; failed: number; firstError?: string; ms: number }
  /** Every subscription of this process has `version` (sent once per version). */
  | { type: 'complete'; version: number }
  | { type: 'receipts'; version: number; times: number[]; duplicates: number; sample?: string; closed: number; errors: string[] }
  | { type: 'failed'; error: string };

const SOCKET_TIMEOUT_MS = 20_000;
const MAX_ERRORS_KEPT = 5;
const NEXT = Buffer.from('"type":"next"');
const VERSION = Buffer.from('"version":');
const INIT = JSON.stringify({ type: 'connection_init', payload: { ...benchAuth } });

const send = (message: ClientMessage) => process.send?.(message);

/** Receipts so far, per version. */
const receipts = new Map<number, { times: number[]; sample?: string }>();
/** Versions already announced complete. */
const completed = new Set<number>();
/** The last version each subscription got (duplicates and reordering would show here). */
let lastVersion = new Int32Array(0);
let subscribed = 0;
let duplicates = 0;
let closedAfterSubscribe = 0;
const errors: string[] = [];

function noteError(error: string) {
  if (errors.length < MAX_ERRORS_KEPT) errors.push(error);
}

/** The first `"version":<digits>` of the message: the event's version (selected before `config`). */
function versionOf(data: Buffer): number {
  const at = data.indexOf(VERSION);
  if (at < 0) return -1;
  let version = 0;
  for (let i = at + VERSION.length; i < data.length; i++) {
    const c = data[i]!;
    if (c < 48 || c > 57) break;
    version = version * 10 + (c - 48);
  }
  return version;
}

/** A `next` message (or NATS message) reached subscription `index`. */
function receive(index: number, data: Buffer): void {
  const at = performance.timeOrigin + performance.now();
  const version = versionOf(data);
  if (version <= lastVersion[index]!) {
    duplicates++;
    return;
  }
  lastVersion[index] = version;
  let entry = receipts.get(version);
  if (!entry) {
    entry = { times: [], sample: data.toString('utf8') };
    receipts.set(version, entry);
  }
  entry.times.push(at);
  checkComplete(version, entry.times.length);
}

function checkComplete(version: number, count: number) {
  if (count >= subscribed && subscribed > 0 && !completed.has(version)) {
    completed.add(version);
    send({ type: 'complete', version });
  }
}

/** One graphql-ws subscription on its own socket; resolves once it subscribed (or failed). */
function openSocket(index: number, url: string, subscribeMessage: string): Promise<boolean> {
  return new Promise((resolve) => {
    let state: 'connecting' | 'subscribed' | 'failed' = 'connecting';
    const socket = new WebSocket(url, 'graphql-transport-ws', { perMessageDeflate: false, handshakeTimeout: SOCKET_TIMEOUT_MS });
    const timer = setTimeout(() => fail('no connection_ack in time'), SOCKET_TIMEOUT_MS);
    const fail = (why: string) => {
      clearTimeout(timer);
      if (state === 'subscribed') {
        subscribed--;
        closedAfterSubscribe++;
      }
      if (state !== 'failed') noteError(`socket ${index}: ${why}`);
      state = 'failed';
      socket.terminate();
      resolve(false);
    };
    socket.on('open', () => socket.send(INIT));
    socket.on('message', (data: Buffer) => {
      if (state === 'subscribed') {
        const at = data.indexOf(NEXT);
        if (at >= 0 && at < 40) return receive(index, data);
      }
      // Everything but `next` is rare: parse it.
      let message: { type?: string; payload?: unknown };
      try {
        message = JSON.parse(data.toString('utf8')) as typeof message;
      } catch {
        return fail(`unparsable message ${data.toString('utf8').slice(0, 200)}`);
      }
      if (message.type === 'connection_ack' && state === 'connecting') {
        socket.send(subscribeMessage);
        clearTimeout(timer);
        state = 'subscribed';
        subscribed++;
        resolve(true);
      } else if (message.type === 'ping') {
        socket.send('{"type":"pong"}');
      } else if (message.type !== 'pong') {
        fail(`unexpected ${data.toString('utf8').slice(0, 300)}`);
      }
    });
    socket.on('error', (error) => fail(`error ${error.message}`));
    socket.on('close', (code, reason) => fail(`closed ${code} ${reason.toString()}`));
  });
}

async function openWs(command: Extract<ClientCommand, { type: 'open-ws' }>): Promise<void> {
  const started = performance.now();
  lastVersion = new Int32Array(command.count).fill(-1);
  const subscribeMessage = JSON.stringify({ id: '1', type: 'subscribe', payload: { query: command.query } });
  let failed = 0;
  // In batches, so the server never sees more than `batch` handshakes at once (no SYN flood).
  for (let first = 0; first < command.count; first += command.batch) {
    const last = Math.min(command.count, first + command.batch);
    const results = await Promise.all(Array.from({ length: last - first }, (_, i) => openSocket(first + i, command.url, subscribeMessage)));
    failed += results.filter((ok) => !ok).length;
  }
  send({ type: 'opened', subscribed, failed, firstError: errors[0], ms: performance.now() - started });
}

async function openNats(command: Extract<ClientCommand, { type: 'open-nats' }>): Promise<void> {
  const started = performance.now();
  lastVersion = new Int32Array(command.count).fill(-1);
  const connection = await connect({ servers: command.url, maxReconnectAttempts: 0, name: `fanout-clients-${process.pid}` });
  void connection.closed().then((error) => {
    if (error) noteError(`NATS connection closed: ${String(error)}`);
  });
  for (let index = 0; index < command.count; index++) {
    connection.subscribe(command.subject, {
      callback: (error, message) => {
        if (error) return noteError(`NATS subscription ${index}: ${error.message}`);
        const data = message.data;
        receive(index, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
      },
    });
  }
  // The server has every SUB once it answers this round trip.
  await connection.flush();
  subscribed = command.count;
  send({ type: 'opened', subscribed, failed: 0, ms: performance.now() - started });
}

function report(version: number): void {
  const entry = receipts.get(version);
  receipts.delete(version);
  completed.delete(version);
  send({
    type: 'receipts',
    version,
    times: entry?.times ?? [],
    duplicates,
    sample: entry?.sample,
    closed: closedAfterSubscribe,
    errors: errors.splice(0),
  });
  duplicates = 0;
}

process.on('message', (raw: unknown) => {
  const command = raw as ClientCommand;
  const run = async () => {
    if (command.type === 'open-ws') await openWs(command);
    else if (command.type === 'open-nats') await openNats(command);
    else if (command.type === 'report') report(command.version);
  };
  run().catch((error: unknown) => send({ type: 'failed', error: error instanceof Error ? (error.stack ?? error.message) : String(error) }));
});
// Never outlive the benchmark.
process.once('disconnect', () => process.exit(0));
send({ type: 'ready', url: '' });
