import { rename, writeFile } from 'node:fs/promises';

/**
 * Writes a file whole or not at all (a temporary file renamed over it), with `mode` from the start (0o600
 * for a file that holds tokens: never readable by others, not even for a moment).
 */
export async function writeFileAtomically(file: string, text: string, mode = 0o666): Promise<void> {
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text, { encoding: 'utf8', mode });
  await rename(temporary, file);
}
