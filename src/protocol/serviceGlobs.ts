import picomatch from 'picomatch/posix.js';

// Which services a token's grant covers: exact names or globs (`polygon-*`, `svc-?`), read by picomatch
// (its POSIX build, which the web console bundles too), so the hub and the console agree on every name.

const matchers = new Map<string, (name: string) => boolean>();

/** Whether a service name matches one of the patterns (exact names or globs). */
export function serviceMatches(patterns: readonly string[], service: string): boolean {
  return patterns.some((pattern) => {
    let matcher = matchers.get(pattern);
    if (!matcher) {
      matcher = picomatch(pattern, { dot: true, nobrace: true, noextglob: true });
      matchers.set(pattern, matcher);
    }
    return matcher(service);
  });
}
