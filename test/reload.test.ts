import { once } from 'node:events';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { reloadEdge, startEdge, tempDir } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { deadPort, get } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { loadConfig } from '../src/config/load.js';
import { spawnGatehouse } from './helpers/process.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';


t.test('reload applies routes, upstreams, HSTS to new requests; open WebSockets continue; health state is kept by address', async (t) => {
  const one = await startWsBackend(t, 'one');
  const two = await startBackend(t, (_req, res) => res.end('two'));
  const running = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${one.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  const ws = await openWs(running.port, '/', { origin: 'https://localhost' });
  t.equal((await get(running.port, '/')).body, 'http one');
  const stateBefore = running.edge.runtime().upstreams.get('app')?.targets[0];
  const result = await reloadEdge(t, running, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
hsts: { maxAge: 1h }
upstreams:
  app: { targets: ["${one.address}"] }
  two: { targets: ["${two.address}"] }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }, { path: /two, upstream: two }] }]
`);
  t.equal(result.applied, true);
  const reply = await get(running.port, '/two');
  t.equal(reply.body, 'two');
  t.equal(reply.headers['strict-transport-security'], 'max-age=3600');
  t.equal(running.edge.runtime().upstreams.get('app')?.targets[0], stateBefore, 'same target state object (health, pool) after reload');
  t.equal(await roundTrip(ws, 'after reload'), 'one:after reload', 'the open WebSocket carries on');
  ws.terminate();
});

t.test('listener changes cannot apply live: reported, the rest applied', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  const file = join(running.dir, 'next.yaml');
  writeFileSync(file, `
listen: { http: false, https: "127.0.0.1:1" }
tls: { certificates: [{ cert: "${running.certs.a.cert}", key: "${running.certs.a.key}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost, app.test], routes: [{ path: /, upstream: app }] }]
`);
  const { config } = await loadConfig(file);
  const result = await running.edge.reload(config as NonNullable<typeof config>);
  t.match(result.notes, [/listen\.https changed: restart/]);
  t.equal((await get(running.port, '/', { headers: { host: 'app.test' } })).status, 200, 'the new site list applies');
});

t.test('SIGHUP and file changes reload; a broken file keeps the old config and logs FILE:LINE:COL', async (t) => {
  const certs = await testCerts();
  const a = await startBackend(t, (_req, res) => res.end('a'));
  const b = await startBackend(t, (_req, res) => res.end('b'));
  const port = await deadPort();
  const file = join(tempDir(t), 'gatehouse.yaml');
  const write = (target: string, extra = ''): void => writeFileSync(file, `
listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${certs.a.cert}", key: "${certs.a.key}" }] }
upstreams: { app: { targets: ["${target}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
${extra}`);
  write(a.address);
  const gh = await spawnGatehouse(t, file);
  const { child, until } = gh;
  t.equal((await get(port, '/')).body, 'a');

  write(b.address); // the file watch picks this up by itself
  await until(async () => (await get(port, '/')).body === 'b', 'file-change reload');
  t.pass('a file change reloaded the config');

  write(a.address, 'timeouts: { idle: whenever }');
  await until(() => gh.output().includes('config reload refused'), 'refusal');
  t.match(gh.output(), new RegExp(`${file.replaceAll('/', '\\/')}:6:\\d+ expected a duration`));
  t.equal((await get(port, '/')).body, 'b', 'the old config keeps serving');

  // An editor's save: write a temp file and rename it over the config (a new inode).
  write(b.address);
  renameSync(file, `${file}.tmp`);
  write(a.address);
  const fresh = readFileSync(file, 'utf8');
  renameSync(`${file}.tmp`, file);
  writeFileSync(`${file}.next`, fresh);
  renameSync(`${file}.next`, file);
  await until(async () => (await get(port, '/')).body === 'a', 'reload after rename-over');
  t.pass('a rename over the config file reloaded it');

  write(b.address);
  child.kill('SIGHUP');
  await until(async () => (await get(port, '/')).body === 'b', 'SIGHUP reload');
  write(a.address);
  child.kill('SIGHUP');
  await until(async () => (await get(port, '/')).body === 'a', 'SIGHUP reload');
  t.pass('reloaded');
  child.kill('SIGTERM');
  const [code] = await within(10_000, once(child, 'exit'), 'child to exit') as [number | null];
  t.equal(code, 0);
});
