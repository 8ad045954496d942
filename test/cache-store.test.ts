// Where cache entries live (DESIGN 28, issue 24): a reload keeps them, the disk tier outlives a
// restart, and with `workers` every worker reads the one disk tier the others write.
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import t from 'tap';
import { reloadEdge, startEdge, tempDir, writeConfigFile } from './helpers/edge.js';
import { deadPort, get } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

const served = new Map<string, number>();
function app(req: IncomingMessage, res: ServerResponse): void {
  const n = (served.get(req.url ?? '') ?? 0) + 1;
  served.set(req.url ?? '', n);
  res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'public, max-age=300' }).end(`stored ${req.url ?? ''} #${n}`);
}

function config(backend: string, cache: string, listen = 'https: "127.0.0.1:0"', extra = ''): string {
  return `
listen: { http: false, ${listen} }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
cache: ${cache}
sites:
  - hosts: [localhost]
    routes:
      - { path: /, upstream: app, cache: { lock: true } }
${extra}`;
}

function count(backend: Upstream, url: string): number {
  return backend.seen.filter((s) => s.url === url).length;
}

/** Entry files under the disk tier. */
function entriesIn(dir: string): number {
  if (!existsSync(dir)) return 0;
  return readdirSync(dir).flatMap((d) => readdirSync(join(dir, d))).filter((f) => f.endsWith('.entry')).length;
}

async function until(check: () => boolean, what: string, ms = 5000): Promise<void> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 25))) if (check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

t.test('a reload keeps the stored entries (the store is the edge\'s, not the config\'s)', async (t) => {
  const backend = await startBackend(t, app);
  const edge = await startEdge(t, config(backend.address, '{ memory: 4m }'));
  await get(edge.port, '/kept');
  const result = await reloadEdge(t, edge, config(backend.address, '{ memory: 8m }'));
  t.ok(result.applied);
  const after = await get(edge.port, '/kept');
  t.match(after.headers['cache-status'], /^Gatehouse; hit/, 'served from the store after the reload');
  t.equal(count(backend, '/kept'), 1);
});

t.test('the disk tier survives a restart', async (t) => {
  const backend = await startBackend(t, app);
  const store = join(tempDir(t), 'store');
  const first = await startEdge(t, config(backend.address, `{ memory: 4m, path: "${store}", maxSize: 8m }`));
  t.match((await get(first.port, '/disk')).headers['cache-status'], /stored/);
  await until(() => entriesIn(store) === 1, 'the entry on disk');
  await first.edge.close();
  const second = await startEdge(t, config(backend.address, `{ memory: 4m, path: "${store}", maxSize: 8m }`));
  const again = await get(second.port, '/disk');
  t.equal(again.body, 'stored /disk #1');
  t.match(again.headers['cache-status'], /^Gatehouse; hit/, 'a new process serves what the old one stored');
  t.match(again.headers.age, /^\d+$/);
  t.equal(count(backend, '/disk'), 1, 'the upstream was asked once across the restart');
});

t.test('workers: each has its own memory tier and all share the disk tier', async (t) => {
  const backend = await startBackend(t, app);
  const store = join(tempDir(t), 'store');
  const port = await deadPort();
  const admin = await deadPort();
  const { file } = await writeConfigFile(t, config(backend.address, `{ memory: 4m, path: "${store}", maxSize: 8m }`, `https: "127.0.0.1:${port}", admin: "127.0.0.1:${admin}"`, 'workers: 2'));
  const gh = await spawnGatehouse(t, file, 2);
  t.match((await get(port, '/shared')).headers['cache-status'], /stored/);
  await until(() => entriesIn(store) === 1, 'the entry on disk');
  // Node's cluster hands connections to the workers in turn: the next ones reach the other worker.
  const statuses: string[] = [];
  for (let i = 0; i < 6; i++) statuses.push(String((await get(port, '/shared')).headers['cache-status']));
  t.ok(statuses.every((s) => s.startsWith('Gatehouse; hit')), `every later request is a hit (${statuses.join(' | ')})`);
  t.equal(count(backend, '/shared'), 1, 'one upstream request for both workers');
  // A purge on the primary's admin listener reaches every worker's memory and the disk tier.
  const purged = await fetch(`http://127.0.0.1:${admin}/cache/purge`, { method: 'POST', body: JSON.stringify({ key: 'httpslocalhost/shared' }) });
  t.equal(purged.status, 200);
  t.ok(((await purged.json()) as { purged: number }).purged >= 2, 'memory entries and the disk entry went');
  t.equal(entriesIn(store), 0, 'the disk entry is gone');
  const bodies = [(await get(port, '/shared')).body];
  await until(() => entriesIn(store) === 1, 'the new entry on disk');
  for (let i = 0; i < 3; i++) bodies.push((await get(port, '/shared')).body);
  t.same(bodies, ['stored /shared #2', 'stored /shared #2', 'stored /shared #2', 'stored /shared #2'], 'no worker serves the purged answer');
  await gh.until(() => new Set([...gh.output().matchAll(/"pid":(\d+),[^\n]*"msg":"request"/g)].map((m) => m[1])).size === 2, 'request lines from both workers');
});
