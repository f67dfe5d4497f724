// GraphiQL as a small page plus separate, content-hashed, immutable and compressed files, instead of one large
// page; they are loaded on first request (precompressed by scripts/build-graphiql-assets.ts, or off the event loop).
import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import path from 'node:path';
import { promisify } from 'node:util';
import { Worker } from 'node:worker_threads';
import zlib from 'node:zlib';
import type { GraphiQLOptions, Plugin } from 'graphql-yoga';
import { type ContentCoding, IMMUTABLE, type Representation, answerFile, codingSuffix, errorAnswer, fileServer, kept, keptByKey } from './staticFiles.ts';

/** Where GraphiQL's files are served: app.ts hands requests for paths under it to `graphiqlAssets`. */
export const GRAPHIQL_ASSET_PATH = '/graphiql/';

const JAVASCRIPT = 'text/javascript; charset=utf-8';

/** The pieces of @graphql-yoga/render-graphiql/graphiql that are served, and the names they are served under. */
export const packagePieces = [
  { piece: 'js', name: 'graphiql', extension: 'js', contentType: JAVASCRIPT },
  { piece: 'css', name: 'graphiql', extension: 'css', contentType: 'text/css; charset=utf-8' },
  { piece: 'editorWorkerService', name: 'editor-worker', extension: 'js', contentType: JAVASCRIPT },
  { piece: 'jsonWorker', name: 'json-worker', extension: 'js', contentType: JAVASCRIPT },
  { piece: 'graphqlWorker', name: 'graphql-worker', extension: 'js', contentType: JAVASCRIPT },
] as const;

export type PackagePiece = (typeof packagePieces)[number]['piece'];

/** A piece's bytes and the first 16 hex digits of their SHA-256, which name it in URLs and ETags. */
export interface ExtractedPiece {
  bytes: Uint8Array;
  hash: string;
}

/** What scripts/build-graphiql-assets.ts leaves in its folder (manifest.json) beside the files it names. */
export interface PrebuiltManifest {
  format: 1;
  /** The @graphql-yoga/render-graphiql version the files come from: another version installed makes them stale. */
  version: string;
  /** Each piece's file as served; `<file>.br` and `<file>.gz` hold it compressed. */
  pieces: Record<PackagePiece, { file: string; hash: string }>;
}

const require = createRequire(import.meta.url);
const packageJsonPath = () => require.resolve('@graphql-yoga/render-graphiql/package.json');

/** The folder the build script writes to by default: node_modules/.cache/confighub-graphiql, beside the package it reads. */
export function defaultGraphiQLCacheDir(): string {
  return path.join(path.dirname(packageJsonPath()), '..', '..', '.cache', 'confighub-graphiql');
}

/** The installed @graphql-yoga/render-graphiql's version. */
export const installedGraphiQLVersion = (): string => (require(packageJsonPath()) as { version: string }).version;

/** The prebuilt files in `dir`, or null when there are none, they are incomplete or from another version. */
export async function readPrebuiltManifest(dir: string): Promise<PrebuiltManifest | null> {
  try {
    const manifest = JSON.parse(await readFile(path.join(dir, 'manifest.json'), 'utf8')) as PrebuiltManifest;
    if (manifest.format !== 1 || manifest.version !== installedGraphiQLVersion()) return null;
    const files = packagePieces.flatMap(({ piece }) => {
      const { file } = manifest.pieces[piece];
      return [file, file + codingSuffix.br, file + codingSuffix.gzip];
    });
    await Promise.all(files.map((file) => stat(path.join(dir, file))));
    return manifest;
  } catch {
    return null;
  }
}

// Run as a CommonJS script in a worker thread: it loads the package and sends the pieces' bytes back (moved, not copied).
const EXTRACT_PIECES = `
const { parentPort, workerData } = require('node:worker_threads');
const { createHash } = require('node:crypto');
const pieces = require(workerData.modulePath);
const extracted = {};
for (const piece of workerData.pieces) {
  const bytes = new TextEncoder().encode(pieces[piece]);
  extracted[piece] = { bytes, hash: createHash('sha256').update(bytes).digest('hex').slice(0, 16) };
}
parentPort.postMessage(extracted, Object.values(extracted).map(({ bytes }) => bytes.buffer));
`;

/** The package's pieces as bytes, read in a worker thread: compiling its large module would otherwise
 * hold up requests in flight. */
export function extractPackagePieces(): Promise<Record<PackagePiece, ExtractedPiece>> {
  const workerData = { modulePath: require.resolve('@graphql-yoga/render-graphiql/graphiql'), pieces: packagePieces.map(({ piece }) => piece) };
  return new Promise((resolve, reject) => {
    // No execArgv: the parent's loaders (tsx) would only slow the reading of a plain CommonJS file.
    const worker = new Worker(EXTRACT_PIECES, { eval: true, workerData, execArgv: [] });
    worker.once('message', resolve);
    worker.once('error', reject);
    // After the message this settles nothing.
    worker.once('exit', (code) => reject(new Error(`the GraphiQL extraction worker stopped (exit code ${code}) before sending the pieces`)));
  });
}

/**
 * Compresses on libuv's thread pool, never on the event loop. `effort: 'build'` (brotli's best, seconds
 * of CPU) is for the build script; `'request'` (brotli quality 6, a fraction of that, a little larger)
 * for a process that found no prebuilt files. gzip -9 either way.
 */
export function compress(bytes: Uint8Array, coding: ContentCoding, effort: 'build' | 'request'): Promise<Buffer> {
  if (coding === 'gzip') return promisify(zlib.gzip)(bytes, { level: 9, memLevel: 9 });
  const { constants } = zlib;
  const params = {
    [constants.BROTLI_PARAM_QUALITY]: effort === 'build' ? 11 : 6,
    // A 16 MiB window: GraphiQL's script is 5 MB, more than the default 4 MiB.
    [constants.BROTLI_PARAM_LGWIN]: 24,
    [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
    [constants.BROTLI_PARAM_SIZE_HINT]: bytes.byteLength,
  };
  return promisify(zlib.brotliCompress)(bytes, { params });
}

/** One file under /graphiql/. */
interface Asset {
  /** Its name under /graphiql/, with its hash: `graphiql.0123456789abcdef.js`. */
  readonly file: string;
  readonly contentType: string;
  readonly hash: string;
  /** The bytes sent for a content coding (or none): each read or compressed once, then kept. */
  representation(coding: Representation): Promise<Uint8Array>;
}

function asset(file: string, contentType: string, hash: string, load: (coding: Representation) => Promise<Uint8Array>): Asset {
  // A failed read is tried again by the next request rather than remembered.
  return { file, contentType, hash, representation: keptByKey(load) };
}

const sha256Prefix = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 16);

/** A file of its bytes, compressed on the first request for a coding. */
function assetOfBytes(name: string, extension: string, contentType: string, bytes: Uint8Array, hash = sha256Prefix(bytes)): Asset {
  return asset(`${name}.${hash}.${extension}`, contentType, hash, async (coding) =>
    coding === 'identity' ? bytes : compress(bytes, coding, 'request'),
  );
}

/**
 * Runs before GraphiQL's script (both `defer`, so in order) and renders it once the document is parsed.
 * Monaco starts its workers from the URLs `getWorkerUrl` gives. Headers a GraphiQL of this origin
 * stored before (tokens, persisted by yoga's default) are removed from the browser's storage.
 */
const BOOT_SCRIPT = `'use strict';
(function () {
  var config = JSON.parse(document.getElementById('graphiql-config').textContent);
  try {
    localStorage.removeItem('graphiql:headers');
    var tabs = JSON.parse(localStorage.getItem('graphiql:tabState') || 'null');
    if (tabs && Array.isArray(tabs.tabs)) {
      tabs.tabs.forEach(function (tab) { delete tab.headers; });
      localStorage.setItem('graphiql:tabState', JSON.stringify(tabs));
    }
  } catch (storageUnavailable) {}
  self.MonacoEnvironment = {
    globalAPI: false,
    getWorkerUrl: function (moduleId, label) { return config.workers[label]; },
  };
  document.addEventListener('DOMContentLoaded', function () {
    YogaGraphiQL.renderYogaGraphiQL(document.getElementById('root'), config.options);
  });
})();
`;

const FAVICON = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#e10098"/><path d="M13 7c-3 0-4 1-4 4v2c0 2-1 3-3 3 2 0 3 1 3 3v2c0 3 1 4 4 4M19 7c3 0 4 1 4 4v2c0 2 1 3 3 3-2 0-3 1-3 3v2c0 3-1 4-4 4" fill="none" stroke="#fff" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round"/></svg>
`;

type Assets = Record<PackagePiece | 'boot' | 'favicon', Asset>;

async function loadAssets(cacheDir: string | null): Promise<Assets> {
  const manifest = cacheDir === null ? null : await readPrebuiltManifest(cacheDir);
  const extracted = manifest ? null : await extractPackagePieces();
  const pieces = packagePieces.map(({ piece, name, extension, contentType }): [PackagePiece, Asset] => {
    if (extracted) return [piece, assetOfBytes(name, extension, contentType, extracted[piece].bytes, extracted[piece].hash)];
    const { file, hash } = manifest!.pieces[piece];
    const read = (coding: Representation) => readFile(path.join(cacheDir!, coding === 'identity' ? file : file + codingSuffix[coding]));
    return [piece, asset(file, contentType, hash, read)];
  });
  return {
    ...(Object.fromEntries(pieces) as Record<PackagePiece, Asset>),
    boot: assetOfBytes('boot', 'js', JAVASCRIPT, Buffer.from(BOOT_SCRIPT)),
    favicon: assetOfBytes('favicon', 'svg', 'image/svg+xml', Buffer.from(FAVICON)),
  };
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (character) => `&#${character.charCodeAt(0)};`);

/** JSON that cannot end the script element holding it (`</script>`, `<!--`): `<`, `>` and `&` as \u escapes. */
const scriptSafeJson = (value: unknown) =>
  JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (character) => `\\u${character.charCodeAt(0).toString(16).padStart(4, '0')}`);

function pageHtml(assets: Assets, options: GraphiQLOptions): string {
  const url = (name: keyof Assets) => GRAPHIQL_ASSET_PATH + assets[name].file;
  const workers = { editorWorkerService: url('editorWorkerService'), json: url('jsonWorker'), graphql: url('graphqlWorker') };
  // Headers hold tokens: never kept in the browser's storage, whatever the options say.
  const config = { workers, options: { ...options, shouldPersistHeaders: false } };
  return `<!doctype html>
<html lang="en">
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>${escapeHtml(options.title ?? 'GraphiQL')}</title>
    <link rel="icon" href="${escapeHtml(options.favicon ?? url('favicon'))}">
    <link rel="stylesheet" href="${url('css')}">
    <script type="application/json" id="graphiql-config">${scriptSafeJson(config)}</script>
    <script defer src="${url('boot')}"></script>
    <script defer src="${url('js')}"></script>
  </head>
  <body class="no-focus-outline">
    <noscript>GraphiQL needs JavaScript.</noscript>
    <div id="root"></div>
  </body>
</html>
`;
}

const ASSET_FILE = /^[a-z-]+\.[0-9a-f]{16}\.(js|css|svg)$/;

export interface GraphiQLAssetsOptions {
  /**
   * Where scripts/build-graphiql-assets.ts left the precompressed files. When it holds none for the
   * installed package version (or is null), the pieces are taken from the package and compressed on the
   * first request for each.
   * @default node_modules/.cache/confighub-graphiql
   */
  cacheDir?: string | null;
}

export type GraphiQLAssets = ReturnType<typeof createGraphiQLAssets>;

export function createGraphiQLAssets(options: GraphiQLAssetsOptions = {}) {
  const assets = kept(() => loadAssets(options.cacheDir === undefined ? defaultGraphiQLCacheDir() : options.cacheDir));
  const files = fileServer(async (request) => {
    const file = request.pathname.slice(GRAPHIQL_ASSET_PATH.length);
    // Checked before anything is loaded, so guessing names costs nothing.
    const found = ASSET_FILE.test(file) ? Object.values(await assets()).find((each) => each.file === file) : undefined;
    if (!found) return errorAnswer(404, 'NO_ROUTE', `no route ${request.pathname}`);
    const { contentType, hash, representation } = found;
    return answerFile({ etag: `"${hash}"`, contentType, cacheControl: IMMUTABLE, bytes: representation }, request);
  });
  return {
    /** The page, for yoga's `renderGraphiQL`: a few KB that load GraphiQL's files from /graphiql/; yoga's
     * GraphiQL options reach GraphiQL as they are (headers are never persisted). */
    renderPage: async (graphiqlOptions: GraphiQLOptions): Promise<string> => pageHtml(await assets(), graphiqlOptions),
    /** Answers GET and HEAD of the files under /graphiql/; null for any other path. */
    serveAsset: async (request: Request): Promise<Response | null> =>
      new URL(request.url).pathname.startsWith(GRAPHIQL_ASSET_PATH) ? files.serve(request) : null,
    /** The same, written straight to a node response: the file's bytes are sent as they are, never copied. */
    writeAsset: files.write,
  };
}

/** The gateway's GraphiQL page and files, from the default cache folder. */
export const graphiqlAssets = createGraphiQLAssets();

/**
 * Scripts, styles and workers from this origin only, and no inline script (the page's options are a
 * JSON data block, read by the boot script). Inline styles stay allowed: Monaco and GraphiQL create
 * `<style>` elements as they run. data: images and fonts are in GraphiQL's stylesheet.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self' data:",
  "worker-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

/** Sets the page's headers on the GraphiQL page yoga answers with (its only text/html answer; yoga's
 * `renderGraphiQL` can set none itself). */
export const graphiqlPageHeadersPlugin: Plugin = {
  onResponse({ response }) {
    if (!response.headers.get('content-type')?.startsWith('text/html')) return;
    response.headers.set('cache-control', 'no-cache');
    response.headers.set('content-security-policy', CONTENT_SECURITY_POLICY);
    response.headers.set('x-content-type-options', 'nosniff');
  },
};
