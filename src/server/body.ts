import { jsonTextProblemInTurns } from '../store/documents.ts';
import { nextTurn } from '../turns.ts';
import { RequestError } from './failures.ts';

/** Requests larger than this are refused with 413 before they are parsed. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** Request bodies and WebSocket messages this large take turns, one at a time (HeavyWork, turns.ts). */
export const HEAVY_BYTES = 64 * 1024;

/** A GraphQL document (HTTP) or WebSocket message this long is worked on in a turn of its own (turns.ts):
 * parsing and validating it costs milliseconds; shorter ones cost too little to matter. */
export const LONG_TEXT_CHARS = 2 * 1024;

export const tooLarge = () =>
  new RequestError(413, 'PAYLOAD_TOO_LARGE', `request body over ${MAX_BODY_BYTES} bytes (1 MiB)`);

/** Reads a body, refusing it as soon as it passes the limit (declared or streamed). */
export async function readBodyWithLimit(request: Request): Promise<Buffer> {
  const declared = Number(request.headers.get('content-length') ?? 0);
  if (declared > MAX_BODY_BYTES) throw tooLarge();
  if (!request.body) return Buffer.alloc(0);
  const chunks: Uint8Array[] = [];
  let size = 0;
  const reader = request.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > MAX_BODY_BYTES) {
      await reader.cancel();
      throw tooLarge();
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks);
}

/** Parses a JSON body; malformed JSON is a 400 with the parser's reason. */
export async function readJsonBody(request: Request): Promise<unknown> {
  const type = request.headers.get('content-type') ?? '';
  if (!/^application\/(merge-patch\+)?json\b/i.test(type)) {
    throw new RequestError(415, 'UNSUPPORTED_MEDIA_TYPE', 'send the body as application/json or application/merge-patch+json');
  }
  const bytes = await readBodyWithLimit(request);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new RequestError(400, 'MALFORMED_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  const problem = await jsonTextProblemInTurns(text);
  if (problem) throw new RequestError(400, 'BAD_USER_INPUT', problem.message);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new RequestError(400, 'MALFORMED_JSON', `the body is not valid JSON: ${(error as Error).message}`);
  }
  // What is done with a large one (its checks) takes a turn of its own.
  if (bytes.length >= HEAVY_BYTES) await nextTurn();
  return value;
}
