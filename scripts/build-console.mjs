// The web console (src/console/) built into dist/console/: one script and one stylesheet, minified, named
// by their content's hash (served as immutable), each beside its brotli and gzip copies, and index.html
// naming them. Written last, manifest.json lists what the gateway serves (src/server/consolePage.ts).
// Runs in `npm run build` (and so at `npm install`); the built files are not committed.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { brotliCompress, constants, gzip } from 'node:zlib';
import { build } from 'esbuild';

const root = new URL('../', import.meta.url);
const outdir = new URL('dist/console/', root).pathname;

await rm(outdir, { recursive: true, force: true });
const result = await build({
  entryPoints: [new URL('src/console/main.tsx', root).pathname],
  outdir: path.join(outdir, 'assets'),
  entryNames: 'console-[hash]',
  assetNames: 'console-[hash]',
  bundle: true,
  minify: true,
  format: 'esm',
  target: ['chrome110', 'firefox110', 'safari16'],
  jsx: 'automatic',
  jsxImportSource: 'preact',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
  define: { 'process.env.NODE_ENV': '"production"' },
});

const outputs = Object.keys(result.metafile.outputs).map((file) => path.resolve(new URL('.', root).pathname, file));
const script = outputs.find((file) => file.endsWith('.js'));
const style = outputs.find((file) => file.endsWith('.css'));
const name = (file) => path.basename(file);
const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>confighub console</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/console/assets/${name(style)}">
<script type="module" src="/console/assets/${name(script)}"></script>
</head>
<body>
<div id="app"></div>
<noscript>The confighub console needs JavaScript. The GraphQL API is at /graphql.</noscript>
</body>
</html>
`;
await writeFile(path.join(outdir, 'index.html'), html);

const brotli = promisify(brotliCompress);
const gzipped = promisify(gzip);
const files = {};
for (const file of [path.join(outdir, 'index.html'), script, style]) {
  const bytes = await readFile(file);
  const [br, gz] = await Promise.all([
    brotli(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_SIZE_HINT]: bytes.length } }),
    gzipped(bytes, { level: 9 }),
  ]);
  await writeFile(`${file}.br`, br);
  await writeFile(`${file}.gz`, gz);
  const relative = path.relative(outdir, file);
  files[relative] = { bytes: bytes.length, br: br.length, gzip: gz.length, etag: `"${createHash('sha256').update(bytes).digest('hex').slice(0, 16)}"` };
}
await mkdir(outdir, { recursive: true });
await writeFile(path.join(outdir, 'manifest.json'), `${JSON.stringify({ format: 1, files }, null, 2)}\n`);
const wire = Object.values(files).reduce((sum, file) => sum + file.gzip, 0);
console.log(`confighub: console built in dist/console (first page ${(wire / 1024).toFixed(1)} KiB gzipped: ${Object.keys(files).join(', ')})`);
