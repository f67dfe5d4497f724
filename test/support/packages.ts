import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// Packages as an outside project gets them: `npm pack` in packages/<name> (prepack builds), then a fresh
// project that installs the tarballs with `npm ci --offline`. Its lockfile pins the tarballs and takes
// every other package (their dependencies, and extras such as typescript) from this checkout's lockfile:
// npm then reads them from its cache by integrity, so nothing reaches the registry or this checkout.

export const PROJECT_ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const run = promisify(execFile);

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  bin?: Record<string, string>;
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  dev?: boolean;
  devOptional?: boolean;
  peer?: boolean;
  optional?: boolean;
}

export interface PackedPackage {
  name: string;
  tarball: string;
  manifest: LockEntry & { name: string; scripts?: Record<string, string>; files?: string[]; exports?: unknown };
}

/** Packs packages/<directory> into `destination`; returns the tarball and the manifest it carries. */
export async function pack(directory: string, destination: string): Promise<PackedPackage> {
  const { stdout } = await run('npm', ['pack', '--silent', '--pack-destination', destination], { cwd: path.join(PROJECT_ROOT, 'packages', directory) });
  const tarball = path.join(destination, stdout.trim().split('\n').at(-1)!);
  const manifest = JSON.parse((await run('tar', ['-xOzf', tarball, 'package/package.json'])).stdout);
  return { name: manifest.name, tarball, manifest };
}

/** The files a tarball holds. */
export async function packedFiles(tarball: string): Promise<string[]> {
  return (await run('tar', ['-tzf', tarball])).stdout.trim().split('\n').map((file) => file.replace(/^package\//, ''));
}

/** The registry's address of a package's tarball (as npm writes it into a lockfile). */
function registryTarball(name: string, version: string): string {
  return `https://registry.npmjs.org/${name}/-/${name.split('/').at(-1)}-${version}.tgz`;
}

/** Where Node finds `name` from the package at lock path `from`: its own node_modules, then each parent's. */
function locate(name: string, from: string, lock: Record<string, LockEntry>): string {
  for (let at = from; ; ) {
    const candidate = `${at ? `${at}/` : ''}node_modules/${name}`;
    if (lock[candidate]) return candidate;
    if (!at) throw new Error(`${name} is not in this checkout's package-lock.json`);
    const parent = at.lastIndexOf('/node_modules/');
    at = parent === -1 ? '' : at.slice(0, parent);
  }
}

/** What installing `names` needs, by lock path: each package and, depth first, its dependencies and required peers. */
function closure(names: string[], lock: Record<string, LockEntry>): Map<string, LockEntry> {
  const found = new Map<string, LockEntry>();
  const pending = names.map((name) => ({ name, from: '' }));
  while (pending.length > 0) {
    const { name, from } = pending.pop()!;
    const at = locate(name, from, lock);
    if (found.has(at)) continue;
    const entry = lock[at]!;
    found.set(at, entry);
    const peers = Object.keys(entry.peerDependencies ?? {}).filter((peer) => !entry.peerDependenciesMeta?.[peer]?.optional);
    pending.push(...[...Object.keys(entry.dependencies ?? {}), ...peers].map((dependency) => ({ name: dependency, from: at })));
  }
  return found;
}

/**
 * Writes package.json and package-lock.json of a fresh project in `dir` depending on the tarballs and on
 * `extras` (names from this checkout's lockfile, at its versions), then installs it offline.
 */
export async function installOffline(dir: string, packages: PackedPackage[], extras: string[] = []): Promise<void> {
  const rootLock = (JSON.parse(readFileSync(path.join(PROJECT_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  const lockPackages: Record<string, LockEntry & { name?: string }> = {};
  const dependencies: Record<string, string> = {};
  const needed: string[] = [...extras];
  for (const { name, tarball, manifest } of packages) {
    dependencies[name] = `file:${tarball}`;
    const { scripts: _scripts, files: _files, exports: _exports, name: _name, ...fields } = manifest;
    lockPackages[`node_modules/${name}`] = {
      ...fields,
      resolved: `file:${tarball}`,
      integrity: `sha512-${createHash('sha512').update(readFileSync(tarball)).digest('base64')}`,
    };
    const peers = Object.keys(manifest.peerDependencies ?? {}).filter((peer) => !manifest.peerDependenciesMeta?.[peer]?.optional);
    needed.push(...Object.keys(manifest.dependencies ?? {}), ...peers);
  }
  const own = new Set(packages.map((packed) => packed.name));
  for (const [at, entry] of closure(needed.filter((name) => !own.has(name)), rootLock)) {
    const { dev: _dev, devOptional: _devOptional, peer: _peer, optional: _optional, ...kept } = entry;
    // This checkout's lockfile leaves out registry URLs; with one, npm reads the tarball from its cache by
    // integrity, where without one it would ask the registry where the tarball is.
    lockPackages[at] = { resolved: registryTarball(at.slice(at.lastIndexOf('node_modules/') + 'node_modules/'.length), entry.version!), ...kept };
  }
  for (const extra of extras) dependencies[extra] = rootLock[`node_modules/${extra}`]!.version!;
  const manifest = { name: 'outside-service', version: '1.0.0', private: true, type: 'module', dependencies };
  writeFileSync(path.join(dir, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const lock = { name: manifest.name, version: manifest.version, lockfileVersion: 3, requires: true, packages: { '': { name: manifest.name, version: manifest.version, dependencies }, ...lockPackages } };
  writeFileSync(path.join(dir, 'package-lock.json'), `${JSON.stringify(lock, null, 2)}\n`);
  await run('npm', ['ci', '--offline', '--no-audit', '--no-fund'], { cwd: dir, env: { ...process.env, npm_config_update_notifier: 'false' } });
}

/** Bytes under `dir`, files and directories alike (as `du --apparent-size`, roughly). */
export function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) total += bytesUnder(full);
    else if (entry.isFile()) total += statSync(full).size;
  }
  return total;
}

/** The installed packages a package needs, itself included, as paths in the project (by its own lockfile). */
export function installedClosure(projectDir: string, name: string): string[] {
  const lock = (JSON.parse(readFileSync(path.join(projectDir, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> }).packages;
  return [...closure([name], lock).keys()];
}
