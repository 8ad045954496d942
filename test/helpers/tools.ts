import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Under CI (.ci/run installs every tool the tests drive) a missing tool is a failure, never a skip. */
const UNDER_CI = process.env.CI !== undefined && process.env.CI !== '' && process.env.CI !== 'false';

/** Whether `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * The skip value for a test that needs a system tool: skipped with `reason` on a developer
 * machine without it, but never under CI — there the test runs and fails (its spawn names the
 * missing command) instead of passing silently.
 */
export function skipWithout(present: boolean, reason: string): string | false {
  if (present) return false;
  return UNDER_CI ? false : reason;
}

/** skipWithout for a list of commands: the reason names the ones not installed. */
export function skipWithoutCommands(commands: readonly string[]): string | false {
  const missing = commands.filter((c) => !hasCommand(c));
  return skipWithout(missing.length === 0, `not installed: ${missing.join(', ')}`);
}

/** The haproxy binary (Debian's /usr/sbin is not on every PATH), or undefined when it is not installed. */
export const HAPROXY: string | undefined = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p))
  ?? (spawnSync('haproxy', ['-v']).status === 0 ? 'haproxy' : undefined);
