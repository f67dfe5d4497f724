import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { IMMUTABLE, answerFile, codingSuffix, errorAnswer, fileServer, kept, keptByKey } from './staticFiles.ts';

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

/** dist/console beside the gateway: the same from src/server, dist/server and the bundle in dist/gateway. */
export const defaultConsoleDir = () => fileURLToPath(new URL('../../dist/console/', import.meta.url));

/** Whether a path is the console's. */
export const isConsolePath = (pathname: string) => pathname === CONSOLE_PATH || pathname.startsWith(`${CONSOLE_PATH}/`);

export function createConsole(dir = defaultConsoleDir()) {
  // Read once; a console not built yet is looked for again on the next request.
  const manifest = kept(async () => JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as Manifest);
  const bytesOf = keptByKey((file: string) => readFile(path.join(dir, file)));

  return fileServer(async (request) => {
    const { pathname } = request;
    const asset = pathname.startsWith(ASSETS) ? pathname.slice(ASSETS.length) : null;
    const file = pathname === CONSOLE_PATH || pathname === `${CONSOLE_PATH}/` ? 'index.html' : asset !== null && ASSET_FILE.test(asset) ? `assets/${asset}` : null;
    if (!file) return errorAnswer(404, 'NO_ROUTE', `no route ${pathname}`);
    if (request.method !== 'GET' && request.method !== 'HEAD') return { status: 405, headers: { allow: 'GET, HEAD' }, body: null };
    let found: Manifest['files'][string] | undefined;
    try {
      found = (await manifest()).files[file];
    } catch {
      return errorAnswer(404, 'CONSOLE_NOT_BUILT', 'the console is not built here: run `npm run build`');
    }
    if (!found) return errorAnswer(404, 'NO_ROUTE', `no route ${pathname}`);
    const page = file === 'index.html';
    return answerFile(
      {
        etag: found.etag,
        contentType: CONTENT_TYPES[path.extname(file)]!,
        cacheControl: page ? 'no-cache' : IMMUTABLE,
        headers: page ? { 'content-security-policy': CONTENT_SECURITY_POLICY, 'referrer-policy': 'no-referrer' } : {},
        bytes: (coding) => bytesOf(coding === 'identity' ? file : file + codingSuffix[coding]),
      },
      request,
    );
  });
}
