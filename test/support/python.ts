import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { aptInstall } from './debian.ts';

// The Python client as a service installs it: a wheel built from a copy of clients/python (offline, with
// Debian's setuptools), installed into a fresh virtual environment made from Debian's Python with its
// system site-packages, where Debian's httpx, websockets, pydantic, pytest and mypy are.

export const PYTHON_SOURCE = path.resolve(import.meta.dirname, '../../clients/python');
const SYSTEM_PYTHON = '/usr/bin/python3';
const DEBIAN_PACKAGES = [
  'python3-venv',
  'python3-setuptools',
  'python3-httpx',
  'python3-websockets',
  'python3-pydantic',
  'python3-pytest',
  'python3-pytest-asyncio',
  'python3-mypy',
];
const MODULES = ['ensurepip', 'setuptools', 'httpx', 'websockets', 'pydantic', 'pytest', 'pytest_asyncio', 'mypy'];

export interface PythonEnvironment {
  /** The venv's python. */
  python: string;
  /** A copy of clients/python (its tests run from here, against the installed wheel). */
  project: string;
  wheel: string;
  /** Runs the venv's python; returns status and output, never throws. */
  run(args: string[], options?: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number }): { status: number | null; output: string };
}

function missingModules(): string[] {
  if (!existsSync(SYSTEM_PYTHON)) return MODULES;
  return MODULES.filter((module) => spawnSync(SYSTEM_PYTHON, ['-c', `import ${module}`], { stdio: 'ignore' }).status !== 0);
}

/** Debian's Python with the client's dependencies, installed with apt-get when missing and we can. */
export function ensureDebianPython(): void {
  if (missingModules().length === 0) return;
  aptInstall(DEBIAN_PACKAGES);
  const missing = missingModules();
  if (missing.length > 0) {
    throw new Error(
      `The Python client's tests need Debian's Python 3 with ${missing.join(', ')}: ` +
        `sudo apt-get install ${DEBIAN_PACKAGES.join(' ')}`,
    );
  }
}

/** Builds the wheel and installs it into a new virtual environment. */
export function installPythonClient(): PythonEnvironment {
  ensureDebianPython();
  const root = mkdtempSync(path.join(tmpdir(), 'confighub-python-'));
  const project = path.join(root, 'project');
  cpSync(PYTHON_SOURCE, project, {
    recursive: true,
    filter: (source) => !/(^|\/)(build|__pycache__|\.mypy_cache|[^/]*\.egg-info)$/.test(source),
  });
  const venv = path.join(root, 'venv');
  execFileSync(SYSTEM_PYTHON, ['-m', 'venv', '--system-site-packages', venv]);
  const python = path.join(venv, 'bin', 'python');
  const pip = (args: string[]) =>
    execFileSync(python, ['-m', 'pip', '--disable-pip-version-check', '--no-input', ...args], { cwd: root, encoding: 'utf8', stdio: 'pipe' });
  const wheels = path.join(root, 'wheels');
  pip(['wheel', '--no-build-isolation', '--no-index', '--no-deps', '--wheel-dir', wheels, project]);
  const wheel = path.join(wheels, readdirSync(wheels).find((name) => name.endsWith('.whl'))!);
  // Without --no-deps: pip checks that the declared ranges hold for Debian's packages.
  pip(['install', '--no-index', '--no-build-isolation', wheel]);
  return {
    python,
    project,
    wheel,
    run(args, options = {}) {
      const result = spawnSync(python, args, {
        cwd: options.cwd ?? root,
        env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', ...options.env },
        encoding: 'utf8',
        timeout: options.timeoutMs ?? 600_000,
      });
      return { status: result.status, output: `${result.stdout ?? ''}${result.stderr ?? ''}${result.error ? String(result.error) : ''}` };
    },
  };
}
