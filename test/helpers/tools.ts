import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/**
 * The skip value for a test that needs a system tool: skipped with `reason` on a developer
 * machine without it, but never under CI=true, where .ci/run installs it — there a missing tool
 * lets the test run and fail instead of passing silently.
 */
export function skipWithout(present: boolean, reason: string): string | false {
  if (present) return false;
  return process.env.CI === 'true' ? false : reason;
}

/** The haproxy binary (Debian's /usr/sbin is not on every PATH), or undefined when it is not installed. */
export const HAPROXY: string | undefined = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p))
  ?? (spawnSync('haproxy', ['-v']).status === 0 ? 'haproxy' : undefined);
