import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';

/** The nginx binary: on PATH, or where Debian puts it (/usr/sbin is not on every user's PATH). */
export function findNginx(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.GATEHOUSE_NGINX !== undefined && env.GATEHOUSE_NGINX !== '') return existsSync(env.GATEHOUSE_NGINX) ? env.GATEHOUSE_NGINX : undefined;
  const onPath = spawnSync('sh', ['-c', 'command -v nginx'], { encoding: 'utf8' });
  if (onPath.status === 0 && onPath.stdout.trim() !== '') return onPath.stdout.trim();
  return ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p));
}

/** A running nginx on the rewritten copy; `stop()` ends it by its PID. */
export interface RunningNginx {
  readonly stop: () => Promise<void>;
  /** What nginx wrote on stderr (its error log) so far. */
  readonly log: () => string;
}

/**
 * Start nginx on `text` (written to PREFIX/nginx.conf) in the foreground with one process, and
 * wait until every port accepts connections. Rejects with nginx's own error log when it exits.
 */
export async function startNginx(binary: string, prefix: string, text: string, ports: readonly number[], waitMs = 10_000): Promise<RunningNginx> {
  mkdirSync(join(prefix, 'tmp'), { recursive: true });
  const conf = join(prefix, 'nginx.conf');
  writeFileSync(conf, text);
  const child = spawn(binary, ['-p', prefix, '-c', conf, '-e', 'stderr', '-g', 'daemon off; master_process off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
  const stop = (): Promise<void> => stopChild(child);
  try {
    await waitForPorts(child, ports, waitMs, () => stderr);
  } catch (err) {
    await stop();
    throw err;
  }
  return { stop, log: () => stderr };
}

/** SIGTERM (nginx's fast shutdown), SIGKILL after 3 s. */
export function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 3000);
    child.once('exit', () => { clearTimeout(kill); resolve(); });
    child.kill('SIGTERM');
  });
}

async function waitForPorts(child: ChildProcess, ports: readonly number[], waitMs: number, log: () => string): Promise<void> {
  const deadline = Date.now() + waitMs;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  for (const port of ports) {
    for (;;) {
      if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nginx did not start: ${log().trim() || `exit ${String(child.exitCode)}`}`);
      if (await accepts(port)) break;
      if (Date.now() > deadline) throw new Error(`nginx did not listen on 127.0.0.1:${port} within ${waitMs} ms: ${log().trim()}`);
      await Promise.race([exited, new Promise((r) => setTimeout(r, 50))]);
    }
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => { s.destroy(); resolve(true); });
    s.once('error', () => resolve(false));
  });
}

/** `n` loopback ports free right now (bound and released; the run binds them soon after). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: n }, () => new Promise<Server>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => resolve(s));
  })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}
