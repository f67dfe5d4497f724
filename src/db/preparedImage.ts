import { cpSync, existsSync, readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from '../logger.ts';

// The embedded database's prepared image. PGlite's initdb takes some 5 s and 850 MiB at its peak, so it
// runs once, at install (scripts/prepare-database.ts): a data directory with every migration applied and
// nothing else (no token, no config). A first start copies it instead of running initdb; migrations added
// since are applied as usual. Made by the PGlite installed beside it, so its version names it.

const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Where the prepared data directory is kept, named by the version of PGlite installed. */
export function preparedImageDir(): string {
  const manifest = path.join(PROJECT_ROOT, 'node_modules', '@electric-sql', 'pglite', 'package.json');
  const { version } = JSON.parse(readFileSync(manifest, 'utf8')) as { version: string };
  return path.join(PROJECT_ROOT, 'node_modules', '.cache', 'confighub', `pgdata-pglite-${version}`);
}

/**
 * Makes `pgdata` a copy of the prepared image when it does not exist yet and an image does; the copy is
 * made beside it and renamed, so a start cut short leaves no half directory. Returns whether it did.
 */
export function seedFromPreparedImage(pgdata: string, logger?: Logger): boolean {
  if (existsSync(pgdata)) return false;
  const image = preparedImageDir();
  if (!existsSync(path.join(image, 'PG_VERSION'))) return false;
  const partial = `${pgdata}.partial`;
  rmSync(partial, { recursive: true, force: true });
  cpSync(image, partial, { recursive: true });
  renameSync(partial, pgdata);
  logger?.info({ image }, 'new data directory made from the prepared database image');
  return true;
}
