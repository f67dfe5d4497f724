import { readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMMUTABLE, type Representation, chooseCoding, matchesEtag } from './graphiqlPage.ts';

// The web console's files (built by scripts/build-console.mjs into dist/console/), served at /console:
// the page (revalidated on every visit) and its script and stylesheet (named by their content's hash,
// cached for good), each in brotli, gzip or plain as the browser accepts. The page may load only this
// origin's files and talk only to this origin (the GraphQL API and its WebSocket).

export const CONSOLE_PATH = '/console';
const ASSETS = '/console/assets/';
const ASSET_FILE = /^console-[A-Z0-9]{8}\.(js|css)$/;

const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

interface Manifest {
  format: 1;
  files: Record<string, { bytes: number; br: number; gzip: number; etag: string }>;
}

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: Uint8Array | null;
}

/** dist/console beside the gateway: the same from src/server, dist/server and the bundle in dist/gateway. */
export const defaultConsoleDir = () => fileURLToPath(new URL('../../dist/console/', import.meta.url));

/** Whether a path is the console's. */
export const isConsolePath = (pathname: string) => pathname === CONSOLE_PATH || pathname.startsWith(`${CONSOLE_PATH}/`);

export function createConsole(dir = defaultConsoleDir()) {
  let manifest: Promise<Manifest> | undefined;
  const files = new Map<string, Promise<Buffer>>();
  // Read once; a console not built yet is looked for again on the next request.
  const load = () =>
    (manifest ??= readFile(path.join(dir, 'manifest.json'), 'utf8')
      .then((text) => JSON.parse(text) as Manifest)
      .catch((error: unknown) => {
        manifest = undefined;
        throw error;
      }));
  const bytesOf = (file: string) => {
    let bytes = files.get(file);
    if (!bytes) {
      bytes = readFile(path.join(dir, file));
      files.set(file, bytes);
      bytes.catch(() => files.delete(file));
    }
    return bytes;
  };

  async function answer(pathname: string, method: string, acceptEncoding: string | null, ifNoneMatch: string | null): Promise<Answer> {
    const json = (status: number, code: string, message: string): Answer => ({
      status,
      headers: { 'content-type': 'application/json; charset=utf-8', 'cache-control': 'no-store' },
      body: Buffer.from(JSON.stringify({ error: { code, message } })),
    });
    const asset = pathname.startsWith(ASSETS) ? pathname.slice(ASSETS.length) : null;
    const file = pathname === CONSOLE_PATH || pathname === `${CONSOLE_PATH}/` ? 'index.html' : asset !== null && ASSET_FILE.test(asset) ? `assets/${asset}` : null;
    if (!file) return json(404, 'NO_ROUTE', `no route ${pathname}`);
    if (method !== 'GET' && method !== 'HEAD') return { status: 405, headers: { allow: 'GET, HEAD' }, body: null };
    let found: Manifest['files'][string] | undefined;
    try {
      found = (await load()).files[file];
    } catch {
      return json(404, 'CONSOLE_NOT_BUILT', 'the console is not built here: run `npm run build`');
    }
    if (!found) return json(404, 'NO_ROUTE', `no route ${pathname}`);
    const coding: Representation = chooseCoding(acceptEncoding);
    // Each coding is another representation, with its own strong validator.
    const etag = coding === 'identity' ? found.etag : `${found.etag.slice(0, -1)}.${coding}"`;
    const page = file === 'index.html';
    const headers: Record<string, string> = {
      'cache-control': page ? 'no-cache' : IMMUTABLE,
      etag,
      vary: 'Accept-Encoding',
      'x-content-type-options': 'nosniff',
      ...(page ? { 'content-security-policy': CONTENT_SECURITY_POLICY, 'referrer-policy': 'no-referrer' } : {}),
    };
    if (matchesEtag(ifNoneMatch, etag)) return { status: 304, headers, body: null };
    const body = await bytesOf(coding === 'identity' ? file : `${file}${coding === 'br' ? '.br' : '.gz'}`);
    headers['content-type'] = CONTENT_TYPES[path.extname(file)]!;
    headers['content-length'] = String(body.byteLength);
    if (coding !== 'identity') headers['content-encoding'] = coding;
    return { status: 200, headers, body: method === 'HEAD' ? null : body };
  }

  return {
    async serve(request: Request): Promise<Response> {
      const { status, headers, body } = await answer(new URL(request.url).pathname, request.method, request.headers.get('accept-encoding'), request.headers.get('if-none-match'));
      return new Response(body as Uint8Array<ArrayBuffer> | null, { status, headers });
    },
    async write(req: IncomingMessage, res: ServerResponse): Promise<void> {
      const pathname = (req.url ?? '/').split('?', 1)[0]!;
      const { status, headers, body } = await answer(pathname, req.method ?? 'GET', req.headers['accept-encoding'] ?? null, req.headers['if-none-match'] ?? null);
      res.writeHead(status, headers);
      res.end(body ?? undefined);
    },
  };
}
