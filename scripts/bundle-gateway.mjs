// The gateway as `npm start` runs it: the compiled modules (dist/, from tsc) bundled into one file with
// the pure-JavaScript packages they import (yoga, graphql, Pothos, envelop, zod, Prisma's client...),
// whitespace and syntax minified (names kept, so stack traces still say which function). Node.js 20 has
// no module compile cache: resolving, reading and compiling hundreds of separate files was much of a
// start. Packages that find files of their own at run time (PGlite's WebAssembly, Prisma's query
// compiler, pino's and piscina's workers, NATS, bufferutil's native code) stay separate, as does what only PostgreSQL uses. The
// bundle lives in dist/gateway/, as deep as dist/db/ and dist/store/, so the paths the modules compute
// from import.meta.url (migrations, the prepared image, the schema check worker, bundled beside it) stay
// true; dist/main.js, what `npm start`, the Dockerfile and the tests run, becomes a one-line import of
// it. `npm run dev` runs the sources through tsx, unbundled.
import { readFile, rm, writeFile } from 'node:fs/promises';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const outdir = new URL('dist/gateway/', root);

const STUB = "// The gateway, bundled by scripts/bundle-gateway.mjs.\nimport './gateway/main.js';\n";
if ((await readFile(new URL('dist/main.js', root), 'utf8')) === STUB) {
  throw new Error('dist/main.js is already the bundle\'s stub: run `npm run build` (tsc, then this script)');
}

await rm(outdir, { recursive: true, force: true });
await build({
  entryPoints: { main: new URL('dist/main.js', root).pathname, checkWorker: new URL('dist/store/checkWorker.js', root).pathname },
  outdir: outdir.pathname,
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  splitting: true,
  chunkNames: 'chunk-[hash]',
  sourcemap: 'linked',
  external: ['piscina', '@electric-sql/pglite', '@electric-sql/pglite/*', '@prisma/client/runtime/query_compiler*', '@prisma/adapter-pg', 'pg', 'pg-native', 'pino', 'pino-*', 'thread-stream', '@nats-io/*', 'bufferutil'],
  // CommonJS packages inside an ES module bundle still call require() for Node's own modules.
  banner: { js: "import { createRequire as createRequireOfBundle } from 'node:module'; const require = createRequireOfBundle(import.meta.url);" },
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: 'warning',
});
await writeFile(new URL('dist/main.js', root), STUB);
