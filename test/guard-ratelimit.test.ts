import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { DECISION_TIMEOUT_MS } from '../src/pipeline/guard/deadline.js';
import { GcraTable } from '../src/pipeline/guard/gcra.js';
import { answerRateRequests, ClusterStore } from '../src/pipeline/guard/rate-store.js';
import { reloadEdge, startEdge, writeConfigFile, type RunningEdge } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { deadPort, get } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { openWs } from './helpers/ws.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';
import { stallUntil, within } from './helpers/wait.js';

function config(backend: string, limit: string, extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
rateLimits:
  login: ${limit}
sites:
  - hosts: [localhost]
    routes:
      - { path: /login, upstream: app, rateLimit: login, websocket: { allowMissingOrigin: true } }
      - { path: /, upstream: app }
${extra}`;
}

async function counted(edge: RunningEdge, outcome: string): Promise<number> {
  const metric = await edge.edge.metrics.registry.getSingleMetric('gatehouse_ratelimit_total')?.get();
  return metric?.values.find((v) => v.labels.limit === 'login' && v.labels.outcome === outcome)?.value ?? 0;
}

t.test('over budget: 429 with Retry-After and HSTS, counted and logged; burst requests are served at once beyond the rate', async (t) => {
  const backend = await startBackend(t);
  const edge = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 2 }'));
  const statuses = [];
  for (let i = 0; i < 4; i++) statuses.push((await get(edge.port, '/login')).status);
  t.strictSame(statuses, [200, 200, 200, 429]);
  const refused = await get(edge.port, '/login');
  t.equal(refused.status, 429);
  t.equal(refused.headers['retry-after'], '60', 'the next request fits in one emission interval: 60 s');
  t.match(refused.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 429);
  t.equal(line?.code, 'EDGE_ERR_RATE_LIMITED');
  t.equal(line?.event, 'rate-limited');
  t.equal(line?.limit, 'login');
  t.equal(backend.seen.length, 3, 'refused requests never reached the upstream');
  t.equal(await counted(edge, 'allowed'), 3);
  t.equal(await counted(edge, 'limited'), 2);
  t.equal((await get(edge.port, '/other')).status, 200, 'routes without the limit are not counted');
});

t.test('the key is the client address masked by the limit’s prefixes; spoofed X-Forwarded-For does not move it', async (t) => {
  const backend = await startBackend(t);
  const edge = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 0 }'));
  t.equal((await get(edge.port, '/login', { localAddress: '127.0.0.2' })).status, 200);
  t.equal((await get(edge.port, '/login', { localAddress: '127.0.0.2', headers: { 'x-forwarded-for': '10.0.0.9' } })).status, 429, 'XFF from an untrusted peer is ignored');
  t.equal((await get(edge.port, '/login', { localAddress: '127.0.0.3' })).status, 200, 'another address has its own budget');
  const grouped = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 0, ipv4Prefix: 24 }'));
  t.equal((await get(grouped.port, '/login', { localAddress: '127.0.0.2' })).status, 200);
  t.equal((await get(grouped.port, '/login', { localAddress: '127.0.0.3' })).status, 429, 'a /24 shares one budget');
});

t.test('IPv6 clients are grouped by /64 (the addresses behind a trusted proxy)', async (t) => {
  const backend = await startBackend(t);
  const edge = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 0 }', 'trustedProxies: [127.0.0.1/32]'));
  const from = (ip: string): Promise<number> => get(edge.port, '/login', { headers: { 'x-forwarded-for': ip } }).then((r) => r.status);
  t.equal(await from('2001:db8:0:1::1'), 200);
  t.equal(await from('2001:db8:0:1:ffff::2'), 429, 'same /64');
  t.equal(await from('2001:db8:0:2::1'), 200, 'another /64');
});

t.test('a reload keeps the budgets spent so far', async (t) => {
  const backend = await startBackend(t);
  const yaml = config(backend.address, '{ rate: 1/m, burst: 0 }');
  const edge = await startEdge(t, yaml);
  t.equal((await get(edge.port, '/login')).status, 200);
  t.equal((await get(edge.port, '/login')).status, 429);
  const reloaded = await reloadEdge(t, edge, yaml.replace('- { path: /, upstream: app }', '- { path: /, upstream: app, access: { methods: [GET] } }'));
  t.equal(reloaded.applied, true);
  t.equal((await get(edge.port, '/login')).status, 429, 'still spent after the reload');
});

t.test('dryRun logs what would be refused and refuses nothing', async (t) => {
  const backend = await startBackend(t);
  const edge = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 0, dryRun: true }'));
  t.equal((await get(edge.port, '/login')).status, 200);
  t.equal((await get(edge.port, '/login')).status, 200);
  const line = await edge.logs.next((l) => l.event === 'rate-limited');
  t.equal(line?.dryRun, true);
  t.equal(await counted(edge, 'dry_run'), 1);
});

t.test('headers: true sends the draft RateLimit-Policy and RateLimit fields', async (t) => {
  const backend = await startBackend(t);
  // 1/m: a loaded machine cannot refill the budget between the requests below.
  const edge = await startEdge(t, config(backend.address, '{ rate: 1/m, burst: 4, headers: true }'));
  const first = await get(edge.port, '/login');
  t.equal(first.headers['ratelimit-policy'], '"login";q=5;w=300', '5 at once, refilled in 5 minutes');
  t.equal(first.headers.ratelimit, '"login";r=4;t=60');
  for (let i = 0; i < 4; i++) await get(edge.port, '/login');
  const refused = await get(edge.port, '/login');
  t.equal(refused.status, 429);
  t.equal(refused.headers.ratelimit, '"login";r=0;t=60');
});

t.test('h2 requests and WebSocket upgrades spend the same budget', async (t) => {
  const ws = await startWsBackend(t);
  const edge = await startEdge(t, config(ws.address, '{ rate: 1/m, burst: 1 }'));
  t.equal((await h2Get(t, edge.port, { ':path': '/login' })).status, 200, 'served by the upstream');
  const open = await openWs(edge.port, '/login');
  open.close();
  const h2 = await h2Get(t, edge.port, { ':path': '/login' });
  t.equal(h2.status, 429);
  t.equal(h2.headers['retry-after'], '60');
  const status = await openWs(edge.port, '/login').then(() => 0, (err: { status?: number }) => err.status ?? -1);
  t.equal(status, 429);
});

t.test('workers: 2 share one budget: clients spread over both workers get burst + 1, not twice that', async (t) => {
  const backend = await startBackend(t);
  const port = await deadPort();
  const { file } = await writeConfigFile(t, config(backend.address, '{ rate: 1/m, burst: 9 }', 'workers: 2').replace('"127.0.0.1:0"', `"127.0.0.1:${port}"`));
  const gh = await spawnGatehouse(t, file, 2);
  const statuses: number[] = [];
  for (let i = 0; i < 40; i++) statuses.push((await get(port, '/login')).status);
  t.equal(statuses.filter((s) => s === 200).length, 10);
  t.equal(statuses.filter((s) => s === 429).length, 30);
  const pids = new Set([...gh.output().matchAll(/"pid":(\d+),[^\n]*"msg":"request"/g)].map((m) => m[1]));
  t.equal(pids.size, 2, 'both workers answered');
  t.equal(backend.seen.length, 10);
});

t.test('a worker busy past the decision timeout still takes the answer the primary sent in time: no false store_error', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rate-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const marker = join(dir, 'answered');
  // The primary's side of the channel: refuses every take, and says (by a file, readable while this process spins) once the answer is written.
  const primary = `process.on('message', (m) => {
    if (m === null || m.gatehouseRate !== 'takes') return;
    process.send({ gatehouseRate: 'answers', answers: m.takes.map(([id]) => [id, 0, 5]) }, undefined, undefined, () => {
      if (m.takes.some(([, key]) => key === 'stalled')) require('node:fs').writeFileSync(process.env.MARKER, '1');
    });
  });
  process.send('listening');`;
  const child = spawn(process.execPath, ['-e', primary], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'], env: { ...process.env, MARKER: marker } });
  t.teardown(() => { child.kill(); });
  await within(30_000, new Promise((resolve) => child.once('message', resolve)), 'the answering process to start');
  const store = new ClusterStore(child);
  t.teardown(() => store.close());
  t.same(await within(10_000, store.take('warm', 10, 0), 'the first answer'), { allowed: false, ahead: 5 });
  // Ask, let the turn's takes go out (setImmediate), then stay busy until the answer is in the pipe
  // and the timeout has passed: the expired timer runs before the next read of the channel.
  const stalled = store.take('stalled', 10, 0);
  await new Promise((resolve) => setImmediate(resolve));
  const started = performance.now();
  stallUntil(10_000, () => existsSync(marker) && performance.now() - started > DECISION_TIMEOUT_MS + 50, 'the answer written and the timeout passed');
  const decision = await within(10_000, stalled.catch((err: Error) => err.message), 'the stalled decision');
  t.same(decision, { allowed: false, ahead: 5 }, 'the answer, not a timeout (the request would have been served without a decision)');
});

t.test('a worker asks the primary once per turn of its event loop, however many requests it read; each gets its own decision', async (t) => {
  // A real IPC channel whose far end sends every message back: this side plays the primary too.
  const mirror = spawn(process.execPath, ['-e', "process.on('message', (m) => process.send(m)); process.send('listening');"], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  t.teardown(() => { mirror.kill(); });
  await within(30_000, new Promise((resolve) => mirror.once('message', resolve)), 'the mirror to start');
  const answer = answerRateRequests(new GcraTable());
  const primary = { send: (m: object): boolean => mirror.send(m), isConnected: (): boolean => mirror.connected };
  let messages = 0;
  mirror.on('message', (m: { gatehouseRate?: string } | null) => {
    if (m?.gatehouseRate !== 'takes') return;
    messages++;
    answer(primary, m);
  });
  const store = new ClusterStore(mirror);
  t.teardown(() => store.close());
  // Twenty requests of one client read in one turn, a budget of burst 4 (+1) at 1/s; two of another client.
  const decisions = await within(10_000, Promise.all([
    ...Array.from({ length: 20 }, () => store.take('a', 1000, 4000)),
    store.take('b', 1000, 4000), store.take('b', 1000, 4000),
  ]), 'the decisions');
  t.equal(messages, 1, 'one message for the turn');
  t.equal(decisions.slice(0, 20).filter((d) => d.allowed).length, 5, 'burst + 1 of the twenty');
  t.strictSame(decisions.slice(0, 5).map((d) => d.allowed), [true, true, true, true, true], 'in the order asked');
  t.strictSame(decisions.slice(20).map((d) => d.allowed), [true, true], 'the other client has its own budget');
});
