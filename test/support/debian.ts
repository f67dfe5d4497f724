import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * Installs Debian packages a test needs when it can (root with apt-get; refreshing the package lists
 * once if the first try fails) and says whether it did; the caller then checks the program is there
 * and otherwise fails saying what to install.
 */
export function aptInstall(packages: readonly string[]): boolean {
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) return false;
  const apt = (args: string[]) => execFileSync('apt-get', args, { stdio: 'ignore', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt(['install', '-y', '-qq', ...packages]);
  } catch {
    apt(['update', '-qq']);
    apt(['install', '-y', '-qq', ...packages]);
  }
  return true;
}
