// Issue 29 item 2: in cluster mode /healthz means serving. A worker counts once its listeners
// accept, not when forked: while :443 refuses (here: another process holds the port, so every
// worker fails to listen and is replaced), /healthz must never say 200.
import { createServer } from 'node:net';
import t from 'tap';
import { writeConfigFile } from './helpers/edge.js';
import { deadPort, fetchText, get } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { startBackend } from './helpers/upstream.js';

t.test('workers: 2 — /healthz is 503 until a worker listens, 200 once one does', async (t) => {
  const backend = await startBackend(t, (_req, res) => res.end('up'));
  const port = await deadPort();
  const admin = await deadPort();
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(port, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((r) => squatter.close(() => r())));
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:${port}", admin: "127.0.0.1:${admin}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
workers: 2
`);
  const gh = await spawnGatehouse(t, file, 0);
  const health = async (): Promise<{ status: number; body: string } | undefined> => fetchText(`http://127.0.0.1:${admin}/healthz`).catch(() => undefined);

  // Workers start, fail to listen and are replaced, for as long as the port is held.
  const seen = new Map<number, number>();
  await gh.until(() => gh.output().includes('worker died; starting a replacement'), 'a worker to fail to listen and be replaced', 20_000);
  for (const start = Date.now(); Date.now() - start < 2500; await new Promise((r) => setTimeout(r, 40))) {
    const reply = await health();
    if (reply !== undefined) seen.set(reply.status, (seen.get(reply.status) ?? 0) + 1);
  }
  t.notOk(seen.has(200), `never 200 while :443 refuses (answers by status: ${JSON.stringify([...seen])})`);
  t.ok((seen.get(503) ?? 0) > 0, 'the admin listener answered 503');
  const starting = await health();
  t.match(starting?.body ?? '', /"status":"starting"/, 'and says it is starting, not draining');
  t.match(gh.output(), /worker died; starting a replacement/, 'workers were failing and being replaced meanwhile');

  // Free the port: replacements listen, report ready, and only then is it 200 — with :443 accepting.
  await new Promise<void>((r) => squatter.close(() => r()));
  await gh.until(async () => (await health())?.status === 200, '/healthz 200 once a worker serves', 30_000);
  t.equal((await get(port, '/')).body, 'up', ':443 serves when /healthz says 200');
  t.match((await health())?.body ?? '', /"status":"ok","workers":[12]/, 'counts the ready workers');
  gh.child.kill('SIGTERM');
});
