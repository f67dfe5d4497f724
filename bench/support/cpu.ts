// CPU time a process has used (all its threads), from /proc on Linux. On a shared, noisy machine,
// CPU per request is steadier than requests/s: it does not count the time other processes took.
import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';

let ticksPerSecond: number | undefined;

function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      ticksPerSecond = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }), 10) || 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/** User + system CPU milliseconds of `pid` so far; undefined where /proc cannot tell. */
export function cpuMillisecondsOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may contain spaces) start with the state, field 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]); // utime (14) + stime (15)
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond() : undefined;
  } catch {
    return undefined;
  }
}

/** Runs `work` and returns its result with the CPU milliseconds `pid` spent meanwhile. */
export async function withCpuOf<T>(pid: number, work: () => Promise<T>): Promise<{ result: T; cpuMs: number | undefined }> {
  const before = cpuMillisecondsOf(pid);
  const result = await work();
  const after = cpuMillisecondsOf(pid);
  return { result, cpuMs: before === undefined || after === undefined ? undefined : after - before };
}

/** utime + stime (+ cutime + cstime: children it has reaped) of one process, in clock ticks. */
function ticksOf(pid: number, withReapedChildren: boolean): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(fields[11]) + Number(fields[12]);
    const children = withReapedChildren ? Number(fields[13]) + Number(fields[14]) : 0;
    const ticks = own + children;
    return Number.isFinite(ticks) ? ticks : undefined;
  } catch {
    return undefined;
  }
}

function childrenOf(pid: number): number[] {
  try {
    const tasks = readdirSync(`/proc/${pid}/task`);
    return tasks.flatMap((task) =>
      readFileSync(`/proc/${pid}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number),
    );
  } catch {
    return [];
  }
}

/** `pid` and all its descendants alive now (a PostgreSQL postmaster and its backends). */
export function processTree(pid: number): number[] {
  const tree = [pid];
  for (let at = 0; at < tree.length; at++) tree.push(...childrenOf(tree[at]!));
  return tree;
}

/**
 * CPU milliseconds used so far by `pid` and all its descendants, those alive and those already reaped
 * (a PostgreSQL postmaster and its backends, which come and go with connections).
 */
export function treeCpuMillisecondsOf(pid: number): number | undefined {
  const root = ticksOf(pid, true);
  if (root === undefined) return undefined;
  let ticks = root;
  for (const child of processTree(pid).slice(1)) ticks += ticksOf(child, true) ?? 0;
  return (ticks * 1000) / clockTicksPerSecond();
}

/** CPU milliseconds of this process plus the children it has reaped (pgbench runs, once they ended). */
export function selfAndReapedCpuMilliseconds(): number | undefined {
  const ticks = ticksOf(process.pid, true);
  return ticks === undefined ? undefined : (ticks * 1000) / clockTicksPerSecond();
}
