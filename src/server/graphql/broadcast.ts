import type { ExecutionArgs, ExecutionResult } from 'graphql';
import { Kind, getOperationAST, getVariableValues, print } from 'graphql';
import type { WebSocket } from 'ws';
import { nextTurn } from '../../turns.ts';

/** A socket whose unsent data passes this is too slow to keep up; it is closed. @default 8 MiB */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024;
/** A resumed subscription's group keeps this many results for late joiners, then takes no more. */
const MAX_REPLAY_LOG = 1_000;
/** A late joiner is sent the results it missed about this many bytes a turn of the event loop. */
const BACKLOG_BYTES_PER_TURN = 512 * 1024;
const CLOSING_BRACE = Buffer.from('}');

type Subscribe = (args: ExecutionArgs) => unknown;

interface Member {
  socket: WebSocket;
  /** `{"id":<id>,"type":"next","payload":` — what differs between members' messages. */
  prefix: Buffer;
  end: () => void;
  /** A late joiner's results still to send (what the group sent before it joined, then what came since). */
  backlog?: Buffer[];
}

/**
 * One GraphQL subscription shared by every socket that asked the same thing (same document, operation,
 * variables and viewer): each event is executed and serialised once, and the same bytes are written to
 * every member. A group resumed from a version keeps its results, so a late joiner with the same
 * `afterVersion` gets exactly what the first one got.
 */
class SubscriptionGroup {
  readonly members = new Set<Member>();
  /** Serialised results so far (resumed groups only), replayed to late joiners. */
  private readonly log: Buffer[] | undefined;
  joinable = true;
  private iterator: AsyncIterator<ExecutionResult> | undefined;

  constructor(
    private readonly onEmpty: () => void,
    keepLog: boolean,
  ) {
    this.log = keepLog ? [] : undefined;
  }

  /** Runs the subscription; the first result tells whether it is a stream or an error to hand back. */
  async open(args: ExecutionArgs, subscribe: Subscribe): Promise<ExecutionResult | undefined> {
    const result = (await subscribe(args)) as ExecutionResult | AsyncIterable<ExecutionResult>;
    if (!(Symbol.asyncIterator in result)) return result;
    this.iterator = result[Symbol.asyncIterator]();
    void this.pump();
    return undefined;
  }

  private async pump(): Promise<void> {
    const iterator = this.iterator!;
    try {
      for (;;) {
        const next = await iterator.next();
        if (next.done) break;
        // As UTF-8 once: every member's message is then a copy of these bytes, not a string to measure and encode again.
        const payload = Buffer.from(JSON.stringify(next.value));
        if (this.log) {
          this.log.push(payload);
          if (this.log.length >= MAX_REPLAY_LOG) this.joinable = false;
        }
        for (const member of this.members) send(member, payload);
      }
    } catch {
      // The source failed (its token was revoked, say): the members are ended below, and a socket whose
      // token ended is closed by its own watch (websocket.ts), which tells the client why.
    } finally {
      this.fail();
    }
  }

  /** The subscription did not start, or its source ended: nobody may join, whoever joined is ended. */
  fail(): void {
    this.joinable = false;
    for (const member of this.members) member.end();
    this.members.clear();
  }

  join(member: Member): void {
    this.members.add(member);
    if (this.log?.length) {
      member.backlog = [...this.log];
      void sendBacklog(member);
    }
  }

  leave(member: Member): void {
    if (!this.members.delete(member) || this.members.size > 0) return;
    this.joinable = false;
    this.onEmpty();
    void this.iterator?.return?.();
  }
}

/** Sends a result to a member, after its backlog if it has one. */
function send(member: Member, payload: Buffer): void {
  if (member.backlog) member.backlog.push(payload);
  else write(member, payload);
}

/**
 * Sends a late joiner what the group sent before it joined (up to 1,000 results of up to some 256 KiB):
 * a bounded part a turn of the event loop, so that no join holds it; results that come meanwhile wait
 * behind them, in order.
 */
async function sendBacklog(member: Member): Promise<void> {
  const backlog = member.backlog!;
  for (;;) {
    let bytes = 0;
    while (backlog.length > 0 && bytes < BACKLOG_BYTES_PER_TURN) {
      const payload = backlog.shift()!;
      bytes += payload.length;
      write(member, payload);
    }
    if (backlog.length === 0 || member.socket.readyState !== member.socket.OPEN) break;
    await nextTurn();
  }
  member.backlog = undefined;
}

function write(member: Member, payload: Buffer): void {
  const { socket } = member;
  if (socket.readyState !== socket.OPEN) return;
  if (socket.bufferedAmount > MAX_BUFFERED_BYTES) {
    socket.close(1013, 'subscriber too slow');
    return;
  }
  socket.send(Buffer.concat([member.prefix, payload, CLOSING_BRACE]), { binary: false });
}

/** What a graphql-ws subscription hands the broadcaster. */
export interface BroadcastRequest {
  args: ExecutionArgs;
  /** yoga's enveloped subscribe, so plugins apply. */
  subscribe: Subscribe;
  socket: WebSocket;
  /** The graphql-ws operation id. */
  id: string;
  /** Who is asking, as far as it changes results (permissions); members share a group only if equal. */
  viewerKey: string;
}

/** Groups identical subscriptions; see SubscriptionGroup. */
export class SubscriptionBroadcaster {
  private readonly groups = new Map<string, SubscriptionGroup>();

  /** Open groups (distinct subscriptions being executed). */
  get groupCount(): number {
    return this.groups.size;
  }

  /** Sockets' subscriptions served by the groups. */
  get memberCount(): number {
    let count = 0;
    for (const group of this.groups.values()) count += group.members.size;
    return count;
  }

  /**
   * Joins (or opens) the request's group. Resolves with an error result to send instead, or with an
   * iterable that yields nothing and ends when the member leaves (graphql-ws then completes it).
   */
  async subscribe(request: BroadcastRequest): Promise<ExecutionResult | AsyncIterable<never>> {
    const key = groupKey(request);
    const member: Member = {
      socket: request.socket,
      prefix: Buffer.from(`{"id":${JSON.stringify(request.id)},"type":"next","payload":`),
      end: () => {},
    };
    let group = this.groups.get(key);
    if (!group?.joinable) {
      const created = new SubscriptionGroup(() => {
        if (this.groups.get(key) === created) this.groups.delete(key);
      }, hasResumePoint(request.args));
      this.groups.set(key, created);
      const failure = await created.open(request.args, request.subscribe).catch((error: unknown) => {
        created.fail();
        throw error;
      });
      if (failure) {
        created.fail();
        if (this.groups.get(key) === created) this.groups.delete(key);
        return failure;
      }
      group = created;
    }
    // graphql-ws keeps what we return and calls its return() when the client completes or leaves.
    let finish!: () => void;
    const ended = new Promise<IteratorResult<never>>((resolve) => {
      finish = () => resolve({ done: true, value: undefined });
    });
    member.end = finish;
    const joined = group;
    joined.join(member);
    const handle: AsyncIterableIterator<never> = {
      next: () => ended,
      return: async () => {
        joined.leave(member);
        finish();
        return { done: true, value: undefined };
      },
      [Symbol.asyncIterator]: () => handle,
    };
    return handle;
  }
}

const printed = new WeakMap<object, string>();

function groupKey({ args, viewerKey }: BroadcastRequest): string {
  let document = printed.get(args.document);
  if (document === undefined) {
    document = print(args.document);
    printed.set(args.document, document);
  }
  return JSON.stringify([document, args.operationName ?? null, args.variableValues ?? null, viewerKey]);
}

/**
 * Whether a root field of the operation is given an `afterVersion`: such a group's results depend on
 * where it started, so late joiners need what it already sent.
 */
function hasResumePoint(args: ExecutionArgs): boolean {
  const operation = getOperationAST(args.document, args.operationName);
  // The variables as the executor sees them: a variable left out takes its default.
  const coerced = operation ? getVariableValues(args.schema, operation.variableDefinitions ?? [], (args.variableValues ?? {}) as Record<string, unknown>) : {};
  const variables = ('coerced' in coerced ? coerced.coerced : {}) as Record<string, unknown>;
  return (operation?.selectionSet.selections ?? []).some(
    (selection) =>
      selection.kind === Kind.FIELD &&
      (selection.arguments ?? []).some(
        (argument) =>
          argument.name.value === 'afterVersion' &&
          (argument.value.kind === Kind.VARIABLE ? variables[argument.value.name.value] != null : argument.value.kind !== Kind.NULL),
      ),
  );
}
