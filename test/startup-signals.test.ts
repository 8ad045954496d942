// Issue 29 item 1: signals are owned from the first instruction. A SIGHUP while Gatehouse starts
// is held and applied once it serves (the kernel default would end the process, exit 129); a
// SIGTERM while it starts exits 0. The single-process cases hold startup at a known point: the
// config file is a FIFO, so the process waits in its first read of the file until the test writes.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir, writeConfigFile } from './helpers/edge.js';
import { deadPort, fetchText, get } from './helpers/net.js';
import { spawnGatehouse, type GatehouseProcess } from './helpers/process.js';
import { startBackend } from './helpers/upstream.js';

/**
 * A config file that is a FIFO: the process blocks in its first read of it. `reading()` resolves
 * once the process has it open (bounded), holding the write end; `release()` writes the text.
 */
async function fifoConfig(t: Tap, yaml: string): Promise<{ file: string; reading(alive: () => boolean): Promise<void>; release(): void }> {
  const { file, dir } = await writeConfigFile(t, yaml, tempDir(t));
  const text = readFileSync(file, 'utf8');
  const regular = join(dir, 'regular.yaml');
  writeFileSync(regular, text);
  rmSync(file);
  execFileSync('mkfifo', [file]);
  let fd: number | undefined;
  t.teardown(() => { if (fd !== undefined) closeSync(fd); });
  return {
    file,
    reading: async (alive) => {
      // Non-blocking open: ENXIO until a reader has it open; retried, bounded, never a hang.
      for (let i = 0; fd === undefined; i++) {
        try {
          fd = openSync(file, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENXIO' || i >= 400 || !alive()) throw new Error(`gatehouse never opened its config (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
          await new Promise((r) => setTimeout(r, 25));
        }
      }
    },
    release: () => {
      if (fd === undefined) throw new Error('release() before reading()');
      writeSync(fd, text);
      // Later reads (the reload comparison, the watcher) see a regular file with the same text.
      renameSync(regular, file);
      closeSync(fd);
      fd = undefined;
    },
  };
}
type Tap = Parameters<typeof tempDir>[0];

function exited(gh: GatehouseProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const child = gh.child;
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`gatehouse did not exit within 15 s:\n${gh.output()}`)), 15_000);
    child.once('exit', (code, signal) => { clearTimeout(timer); resolve({ code, signal }); });
  });
}

async function oneProcessConfig(t: Tap): Promise<{ yaml: string; port: number }> {
  const backend = await startBackend(t, (_req, res) => res.end('up'));
  const port = await deadPort();
  return {
    port,
    yaml: `
listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`,
  };
}

t.test('one process: a SIGHUP before the edge is up is held, then reported as nothing to reload', async (t) => {
  const { yaml, port } = await oneProcessConfig(t);
  const { file, reading, release } = await fifoConfig(t, yaml);
  const gh = await spawnGatehouse(t, file, 0);
  const pid = gh.child.pid as number;
  await reading(() => gh.child.exitCode === null && gh.child.signalCode === null);
  process.kill(pid, 'SIGHUP');
  process.kill(pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(gh.child.signalCode, null, 'not killed by SIGHUP while reading its config');
  release();
  await gh.until(() => gh.output().includes('gatehouse is serving'), 'serving after SIGHUPs during startup');
  await gh.until(() => gh.output().includes('SIGHUP during startup'), 'the held SIGHUP to be handled');
  t.match(gh.output(), /"held":true[^\n]*nothing to reload/, 'two held SIGHUPs, one line: the file did not change');
  t.equal((await get(port, '/')).body, 'up', 'serving');
  process.kill(pid, 'SIGHUP');
  await gh.until(() => gh.output().includes('config reloaded'), 'a SIGHUP after start reloads as before');
  process.kill(pid, 'SIGTERM');
  t.same(await exited(gh), { code: 0, signal: null }, 'drains and exits 0');
});

t.test('one process: SIGTERM while starting exits 0 without serving', async (t) => {
  const { yaml } = await oneProcessConfig(t);
  const { file, reading, release } = await fifoConfig(t, yaml);
  const gh = await spawnGatehouse(t, file, 0);
  const pid = gh.child.pid as number;
  await reading(() => gh.child.exitCode === null && gh.child.signalCode === null);
  process.kill(pid, 'SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  if (gh.child.signalCode === null) release();
  const status = await exited(gh);
  t.same(status, { code: 0, signal: null }, `exit 0, not killed by the signal (${JSON.stringify(status)})`);
  t.notMatch(gh.output(), /gatehouse is serving/, 'stopped before serving');
});

t.test('two workers: SIGHUPs while the workers start kill none of them; the admin note compares like with like', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('up'));
  const port = await deadPort();
  const admin = await deadPort();
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:${port}", admin: "127.0.0.1:${admin}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
workers: 2
`);
  const gh = await spawnGatehouse(t, file, 0);
  const pid = gh.child.pid as number;
  // The primary logs this right after forking: the workers are loading, far from serving.
  await gh.until(() => gh.output().includes('starting workers'), 'the primary to fork');
  process.kill(pid, 'SIGHUP');
  await new Promise((r) => setTimeout(r, 30));
  process.kill(pid, 'SIGHUP');
  await gh.until(() => (gh.output().match(/gatehouse is serving/g) ?? []).length >= 2, 'both workers serving', 45_000);
  t.equal((await fetchText(`http://127.0.0.1:${admin}/healthz`)).status, 200, '/healthz 200 once they serve');
  // A reload of running workers: each reloads, and none thinks the admin listener moved.
  process.kill(pid, 'SIGHUP');
  await gh.until(() => (gh.output().match(/config reloaded/g) ?? []).length >= 2, 'both workers to reload');
  t.equal((await get(port, '/')).body, 'up', 'serving');
  t.notMatch(gh.output(), /worker died/, 'no worker died of a SIGHUP');
  t.equal((gh.output().match(/gatehouse is serving/g) ?? []).length, 2, 'no replacement worker was needed');
  t.notMatch(gh.output(), /listen\.admin changed/, 'no restart note for a listener nobody changed');
  process.kill(pid, 'SIGTERM');
  t.same(await exited(gh), { code: 0, signal: null }, 'drains and exits 0');
});
