// Files answered as stored: each in brotli, gzip or plain as the client accepts, with a strong ETag per
// coding and its cache rule. GraphiQL's files (graphiqlPage.ts) and the web console (consolePage.ts) use it.
import type { IncomingMessage, ServerResponse } from 'node:http';

export type ContentCoding = 'br' | 'gzip';
export type Representation = ContentCoding | 'identity';

/** The suffix of a file's compressed copy beside it. */
export const codingSuffix: Record<ContentCoding, string> = { br: '.br', gzip: '.gz' };

export const IMMUTABLE = 'public, max-age=31536000, immutable';

/** The coding to send: br when accepted, else gzip, else none. */
export function chooseCoding(acceptEncoding: string | null): Representation {
  const weights = new Map<string, number>();
  for (const entry of (acceptEncoding ?? '').toLowerCase().split(',')) {
    const [coding = '', ...parameters] = entry.split(';').map((part) => part.trim());
    const q = parameters.find((parameter) => parameter.startsWith('q='));
    weights.set(coding, q ? Number(q.slice(2)) || 0 : 1);
  }
  const accepts = (...codings: string[]) => (codings.map((coding) => weights.get(coding)).find((q) => q !== undefined) ?? weights.get('*') ?? 0) > 0;
  if (accepts('br')) return 'br';
  if (accepts('gzip', 'x-gzip')) return 'gzip';
  return 'identity';
}

/** If-None-Match, compared weakly (RFC 9110 13.1.2). */
export function matchesEtag(ifNoneMatch: string | null, etag: string): boolean {
  if (ifNoneMatch === null) return false;
  return ifNoneMatch.split(',').some((tag) => {
    const trimmed = tag.trim();
    return trimmed === '*' || trimmed.replace(/^W\//, '') === etag;
  });
}

/** A promise made once per key and kept; a rejected one is forgotten, so the next call tries again. */
export function keptByKey<K, T>(make: (key: K) => Promise<T>): (key: K) => Promise<T> {
  const promises = new Map<K, Promise<T>>();
  return (key) => {
    let promise = promises.get(key);
    if (!promise) {
      promise = make(key);
      promises.set(key, promise);
      promise.catch(() => promises.delete(key));
    }
    return promise;
  };
}

/** The same, for one promise. */
export function kept<T>(make: () => Promise<T>): () => Promise<T> {
  const once = keptByKey(make);
  return () => once(undefined);
}

/** What a file request asks, from a fetch Request or a node request alike. */
export interface FileRequest {
  pathname: string;
  method: string;
  acceptEncoding: string | null;
  ifNoneMatch: string | null;
}

/** An answer as plain parts. */
export interface FileAnswer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

/** A JSON error answer. */
export const errorAnswer = (status: number, code: string, message: string): FileAnswer => ({
  status,
  headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
  body: Buffer.from(JSON.stringify({ error: { code, message } })),
});

/** A stored file: its plain representation's strong ETag (quoted), its type and cache rule, its bytes in each coding. */
export interface StoredFile {
  etag: string;
  contentType: string;
  cacheControl: string;
  /** More headers for the 200 and 304 answers. */
  headers?: Record<string, string>;
  bytes(coding: Representation): Promise<Uint8Array>;
}

/** GET or HEAD of a file: 200 in the coding the client prefers, or 304 when its ETag matches; 405 for other methods. */
export async function answerFile(file: StoredFile, request: FileRequest): Promise<FileAnswer> {
  if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, headers: { allow: 'GET, HEAD' }, body: null };
  const coding = chooseCoding(request.acceptEncoding);
  // Each coding is another representation, with its own strong validator.
  const etag = coding === 'identity' ? file.etag : `${file.etag.slice(0, -1)}.${coding}"`;
  const headers: Record<string, string> = {
    'cache-control': file.cacheControl,
    etag,
    vary: 'Accept-Encoding',
    'x-content-type-options': 'nosniff',
    ...file.headers,
  };
  if (matchesEtag(request.ifNoneMatch, etag)) return { status: 304, headers, body: null };
  const body = await file.bytes(coding);
  headers['content-type'] = file.contentType;
  headers['content-length'] = String(body.byteLength);
  if (coding !== 'identity') headers['content-encoding'] = coding;
  return { status: 200, headers, body: request.method === 'HEAD' ? null : body };
}

/** The fetch and node faces of a function that answers file requests. */
export function fileServer(answer: (request: FileRequest) => Promise<FileAnswer>) {
  return {
    async serve(request: Request): Promise<Response> {
      const { headers: h } = request;
      const asked = { pathname: new URL(request.url).pathname, method: request.method, acceptEncoding: h.get('accept-encoding'), ifNoneMatch: h.get('if-none-match') };
      const { status, headers, body } = await answer(asked);
      return new Response(body as Uint8Array<ArrayBuffer> | null, { status, headers });
    },
    /** The file's bytes are sent as they are, never copied. */
    async write(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const { headers: h } = req;
      const asked = { pathname: (req.url ?? '/').split('?', 1)[0]!, method: req.method ?? 'GET', acceptEncoding: h['accept-encoding'] ?? null, ifNoneMatch: h['if-none-match'] ?? null };
      const { status, headers, body } = await answer(asked);
      res.writeHead(status, headers);
      res.end(body ?? undefined);
    },
  };
}
