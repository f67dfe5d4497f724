// CPU time a process has used (all its threads), from /proc on Linux. On a shared, noisy machine,
// CPU per request is steadier than requests/s: it does not count the time other processes took.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

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
