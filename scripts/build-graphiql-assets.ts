// Writes GraphiQL's files, as served under /graphiql/, with brotli (quality 11) and gzip copies into
// node_modules/.cache/confighub-graphiql, so that no gateway spends ~15 s of CPU compressing them.
// Run after `npm install` (package.json `postinstall`); does nothing when the files are up to date.
//   node --import tsx scripts/build-graphiql-assets.ts [--force] [--dir DIR]
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  type PrebuiltManifest,
  compress,
  defaultGraphiQLCacheDir,
  extractPackagePieces,
  installedGraphiQLVersion,
  packagePieces,
  readPrebuiltManifest,
} from '../src/server/graphiqlPage.ts';
import { type ContentCoding, codingSuffix } from '../src/server/staticFiles.ts';

export interface BuildOptions {
  /** @default node_modules/.cache/confighub-graphiql */
  dir?: string;
  /** Rebuild even when the folder holds the files of the installed version. @default false */
  force?: boolean;
  /** How hard brotli works: 'build' is quality 11; tests use 'request' (quality 6), which is 30 times faster. @default 'build' */
  effort?: 'build' | 'request';
}

export interface BuildResult {
  dir: string;
  /** False when the folder was up to date already. */
  built: boolean;
  /** Bytes of each file written, by name. */
  sizes: Record<string, number>;
}

/** Writes the files and then, last, manifest.json: a build that stops half way leaves no manifest naming missing files. */
export async function buildGraphiQLAssets(options: BuildOptions = {}): Promise<BuildResult> {
  const dir = options.dir ?? defaultGraphiQLCacheDir();
  if (!options.force && (await readPrebuiltManifest(dir))) return { dir, built: false, sizes: {} };
  await mkdir(dir, { recursive: true });
  const extracted = await extractPackagePieces();
  const sizes: Record<string, number> = {};
  const write = async (file: string, bytes: Uint8Array) => {
    const partial = path.join(dir, `${file}.${process.pid}.partial`);
    await writeFile(partial, bytes);
    await rename(partial, path.join(dir, file));
    sizes[file] = bytes.byteLength;
  };
  const manifest: PrebuiltManifest = { format: 1, version: await installedGraphiQLVersion(), pieces: {} as PrebuiltManifest['pieces'] };
  // All at once: the thread pool runs four compressions in parallel.
  await Promise.all(
    packagePieces.flatMap(({ piece, name, extension }) => {
      const { bytes, hash } = extracted[piece];
      const file = `${name}.${hash}.${extension}`;
      manifest.pieces[piece] = { file, hash };
      return [
        write(file, bytes),
        ...(['br', 'gzip'] as ContentCoding[]).map(async (coding) =>
          write(file + codingSuffix[coding], await compress(bytes, coding, options.effort ?? 'build')),
        ),
      ];
    }),
  );
  await write('manifest.json', Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`));
  // Files of earlier versions go.
  const kept = new Set(Object.keys(sizes));
  for (const entry of await readdir(dir)) if (!kept.has(entry)) await rm(path.join(dir, entry), { force: true });
  return { dir, built: true, sizes };
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const dirIndex = args.indexOf('--dir');
  const started = performance.now();
  try {
    const result = await buildGraphiQLAssets({ force: args.includes('--force'), dir: dirIndex >= 0 ? args[dirIndex + 1] : undefined });
    const total = (pattern: RegExp) => Object.entries(result.sizes).reduce((sum, [file, size]) => sum + (pattern.test(file) ? size : 0), 0);
    console.log(
      result.built
        ? `GraphiQL assets written to ${result.dir} in ${((performance.now() - started) / 1000).toFixed(1)} s: ` +
            `${total(/\.(js|css)$/)} bytes, brotli ${total(/\.br$/)}, gzip ${total(/\.gz$/)}`
        : `GraphiQL assets up to date in ${result.dir}`,
    );
  } catch (error) {
    // Not fatal to an install: without these files a gateway compresses GraphiQL itself, faster and less well.
    console.warn('GraphiQL assets were not built:', error);
  }
}
