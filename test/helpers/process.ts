import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';

// Releases a client can abort through http2 (src/lifecycle/node-defects.ts) serve no h2 by
// default; the suite accepts that defect so its h2 tests run on every Node line (edges it
// spawns inherit this). test/node-defects.test.ts and the fuzz test check the default.
process.env.GATEHOUSE_ACCEPT_NODE_DEFECTS ??= 'http2';

type Tap = { teardown(fn: () => unknown): void };

export const CLI = join(import.meta.dirname, '..', '..', 'dist', 'cli.js');

export interface GatehouseProcess {
  readonly child: ChildProcess;
  /** Everything it printed so far (stdout and stderr). */
  output(): string;
  /** Poll `pred` every 50 ms (up to `ms`, 10 s by default); throws with the output if it never holds or the process exits. */
  until(pred: () => boolean | Promise<boolean>, what: string, ms?: number): Promise<void>;
}

/** Run the built CLI on a config file; killed at teardown; resolves once `serving` start lines were printed. */
export async function spawnGatehouse(t: Tap, file: string, serving = 1, nodeArgs: readonly string[] = []): Promise<GatehouseProcess> {
  const child = spawn(process.execPath, [...nodeArgs, CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
  const until = async (pred: () => boolean | Promise<boolean>, what: string, ms = 10_000): Promise<void> => {
    for (let i = 0; i < ms / 50; i++) {
      if (await pred()) return;
      if (child.exitCode !== null) throw new Error(`gatehouse exited while waiting for ${what}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`timed out waiting for ${what}:\n${out}`);
  };
  // Start is allowed longer: on a loaded CI box (2 cores, several suites) workers took 10-30 s
  // to print their start line, which is no defect of what the tests check.
  await until(() => (out.match(/gatehouse is serving/g) ?? []).length >= serving, 'start', 45_000);
  return { child, output: () => out, until };
}

export interface Ran {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Run a command without blocking the event loop (the test's own servers keep answering); SIGKILLed after `ms`. */
export function run(cmd: string, args: readonly string[], ms: number, input?: string, options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'], ...options });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${ms} ms\n${stdout}${stderr}`.slice(-4000)));
    }, ms);
    child.on('error', (err) => { clearTimeout(timer); reject(err); });
    child.on('close', (code) => { clearTimeout(timer); resolve({ code, stdout, stderr }); });
    child.stdin.end(input ?? '');
  });
}
