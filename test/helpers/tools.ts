import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

/** Under CI (.ci/run installs every tool the tests drive, then sets CI=true) a missing tool is a failure, never a skip. */
export function underCi(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.CI !== undefined && env.CI !== '' && env.CI !== 'false';
}

/** Whether `cmd` is on PATH. */
export function hasCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
}

/**
 * The skip value for a test that needs a system tool: skipped with `reason` on a developer
 * machine without it. Under CI it throws instead, so the test file fails at load with `reason`
 * and the hint to install it — never a silent pass, never a confusing spawn error later.
 */
export function skipWithout(present: boolean, reason: string, env: NodeJS.ProcessEnv = process.env): string | false {
  if (present) return false;
  if (underCi(env)) throw new Error(`${reason}, and CI=${String(env.CI)}: under CI every tool the tests drive must be installed (.ci/run installs them)`);
  return reason;
}

/** skipWithout for a list of commands: the reason names the ones not installed. */
export function skipWithoutCommands(commands: readonly string[]): string | false {
  const missing = commands.filter((c) => !hasCommand(c));
  return skipWithout(missing.length === 0, `not installed: ${missing.join(', ')}`);
}

/** The haproxy binary (Debian's /usr/sbin is not on every PATH), or undefined when it is not installed. */
export const HAPROXY: string | undefined = ['/usr/sbin/haproxy', '/usr/local/sbin/haproxy'].find((p) => existsSync(p))
  ?? (spawnSync('haproxy', ['-v']).status === 0 ? 'haproxy' : undefined);
