import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomically } from './files.ts';
import { usageError } from './errors.ts';

// Contexts: named hubs in a file of the user's (`confighub context use staging`), as kubectl's. What the
// command line and the environment give wins over the context in use; the context over the defaults.

/** One hub: where it is, the token to send, the environment to use unless told otherwise. */
export interface HubContext {
  url: string;
  token?: string;
  environment?: string;
}

export interface ContextsFile {
  current?: string;
  contexts: Record<string, HubContext>;
}

/** Where the contexts are kept: CONFIGHUB_CONFIG, else <XDG_CONFIG_HOME or ~/.config>/confighub/contexts.json. */
export function contextsPath(env: NodeJS.ProcessEnv = process.env): string {
  if (env.CONFIGHUB_CONFIG?.trim()) return env.CONFIGHUB_CONFIG.trim();
  const base = env.XDG_CONFIG_HOME?.trim() || path.join(os.homedir(), '.config');
  return path.join(base, 'confighub', 'contexts.json');
}

export function readContexts(env: NodeJS.ProcessEnv = process.env): ContextsFile {
  const file = contextsPath(env);
  if (!existsSync(file)) return { contexts: {} };
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw usageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
  const document = parsed as Partial<ContextsFile> | null;
  if (!document || typeof document !== 'object' || typeof document.contexts !== 'object' || document.contexts === null) {
    throw usageError(`${file} must hold {"current": name, "contexts": {name: {"url": ...}}}`);
  }
  return { current: document.current, contexts: document.contexts };
}

/** Writes the contexts, readable by the user only (they may hold tokens). */
export async function writeContexts(contexts: ContextsFile, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const file = contextsPath(env);
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  await writeFileAtomically(file, `${JSON.stringify(contexts, null, 2)}\n`, 0o600);
}

/** The context in use: CONFIGHUB_CONTEXT, else the file's current one; undefined when there is none. */
export function activeContext(env: NodeJS.ProcessEnv = process.env): (HubContext & { name: string }) | undefined {
  const wanted = env.CONFIGHUB_CONTEXT?.trim();
  const contexts = readContexts(env);
  const name = wanted || contexts.current;
  if (!name) return undefined;
  const context = contexts.contexts[name];
  if (!context) {
    if (wanted) throw usageError(`CONFIGHUB_CONTEXT names "${name}", which is not a context (confighub context list)`);
    return undefined;
  }
  return { name, ...context };
}
