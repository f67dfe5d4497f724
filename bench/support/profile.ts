// A CPU profile of a window the parent chooses, taken inside a server child that answers control
// requests (bench/servers/fanout-control.ts), summarized as self time per package and per function.
import type { ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ControlReply, ControlRequest } from '../servers/fanout-control.ts';

type WithoutId<T> = T extends unknown ? Omit<T, 'id'> : never;

let controlId = 0;

/** Asks a server child and waits for its answer. */
export async function control(child: ChildProcess, request: WithoutId<ControlRequest>, timeoutMs = 30_000): Promise<ControlReply> {
  const id = ++controlId;
  let timer: NodeJS.Timeout | undefined;
  let onMessage: ((message: unknown) => void) | undefined;
  try {
    const answer = await new Promise<ControlReply>((resolve, reject) => {
      onMessage = (message: unknown) => {
        const reply = message as ControlReply;
        if (reply?.type === 'control-reply' && reply.id === id) resolve(reply);
      };
      child.on('message', onMessage);
      timer = setTimeout(() => reject(new Error(`server ${request.type}: no answer within ${timeoutMs} ms`)), timeoutMs);
      child.send({ ...request, id } as ControlRequest);
    });
    if (answer.error) throw new Error(`server ${request.type}: ${answer.error}`);
    return answer;
  } finally {
    clearTimeout(timer);
    if (onMessage) child.off('message', onMessage);
  }
}

export interface ProfileSummary {
  /** Sampled, not idle, ms. */
  activeMs: number;
  functions: { name: string; ms: number }[];
  packages: { name: string; ms: number }[];
}

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function packageOf(url: string, functionName: string): string {
  if (!url) return functionName.startsWith('(') ? functionName : '(native: V8/libuv bindings, e.g. writev)';
  if (url.startsWith('node:')) return 'node internals';
  if (url.startsWith('wasm://')) return 'wasm';
  const file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const parts = file.slice(modules + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  return file.startsWith(ROOT) ? path.dirname(file.slice(ROOT.length)) : file;
}

function where(url: string, line: number): string {
  if (!url) return '';
  let file = url.replace(/^file:\/\//, '');
  const modules = file.lastIndexOf('/node_modules/');
  if (modules >= 0) file = file.slice(modules + '/node_modules/'.length);
  else if (file.startsWith(ROOT)) file = file.slice(ROOT.length);
  return `${file}:${line + 1}`;
}

export function summarizeProfile(file: string, topFunctions = 25, topPackages = 15): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const byFunction = new Map<string, number>();
  const byPackage = new Map<string, number>();
  let activeMs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const frame = nodes.get(profile.samples[i]!);
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    if (!frame || frame.functionName === '(idle)') continue;
    activeMs += ms;
    const name = `${frame.functionName || '(anonymous)'} ${where(frame.url, frame.lineNumber)}`.trim();
    byFunction.set(name, (byFunction.get(name) ?? 0) + ms);
    const pkg = packageOf(frame.url, frame.functionName);
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + ms);
  }
  const top = (map: Map<string, number>, count: number) =>
    [...map.entries()].sort((a, b) => b[1] - a[1]).slice(0, count).map(([name, ms]) => ({ name, ms }));
  return { activeMs, functions: top(byFunction, topFunctions), packages: top(byPackage, topPackages) };
}

/** Prints a summary; `units` (e.g. updates in the window) adds µs per unit. */
export function printProfile(title: string, summary: ProfileSummary, units?: number): void {
  const per = (ms: number) => (units ? `${((ms * 1000) / units).toFixed(0).padStart(5)} µs/unit` : '');
  const share = (ms: number) => `${((100 * ms) / summary.activeMs).toFixed(1)}%`;
  console.log(`\n  ${title}: ${summary.activeMs.toFixed(0)} ms sampled busy${units ? `, ${units} units` : ''}`);
  console.log('    by package (self time):');
  for (const entry of summary.packages) console.log(`      ${entry.ms.toFixed(0).padStart(7)} ms ${share(entry.ms).padStart(6)} ${per(entry.ms)}  ${entry.name}`);
  console.log('    top functions (self time):');
  for (const entry of summary.functions) console.log(`      ${entry.ms.toFixed(0).padStart(7)} ms ${share(entry.ms).padStart(6)} ${per(entry.ms)}  ${entry.name}`);
}
