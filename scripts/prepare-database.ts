// Makes the embedded database's prepared image at install (src/db/preparedImage.ts): initdb and the
// migrations once, so that a first start copies a data directory instead of creating one.
import { existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { openDatabase } from '../src/db/database.ts';
import { migrate } from '../src/db/migrate.ts';
import { preparedImageDir } from '../src/db/preparedImage.ts';

const image = preparedImageDir();
if (existsSync(path.join(image, 'PG_VERSION'))) process.exit(0);
const started = performance.now();
// Beside the image, so that the rename stays on one file system.
mkdirSync(path.dirname(image), { recursive: true });
const workDir = mkdtempSync(path.join(path.dirname(image), 'work-'));
try {
  const database = await openDatabase({ dataDir: workDir });
  await migrate(database);
  await database.close();
  rmSync(image, { recursive: true, force: true });
  renameSync(path.join(workDir, 'pgdata'), image);
} finally {
  rmSync(workDir, { recursive: true, force: true });
}
console.log(`confighub: prepared the embedded database image in ${Math.round(performance.now() - started)} ms (${image})`);
