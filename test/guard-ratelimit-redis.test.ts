import { spawn, spawnSync } from 'node:child_process';
import t from 'tap';
import { startEdge, type RunningEdge } from './helpers/edge.js';
import { deadPort, get } from './helpers/net.js';
import { hasCommand, skipWithout } from './helpers/tools.js';
import { startBackend } from './helpers/upstream.js';
import { stallUntil, within } from './helpers/wait.js';
import { DECISION_TIMEOUT_MS } from '../src/pipeline/guard/deadline.js';
import { RedisStore } from '../src/pipeline/guard/redis-store.js';

type Tap = Parameters<typeof startBackend>[0];

const skip = skipWithout(hasCommand('redis-server') && hasCommand('redis-cli'), 'redis-server or redis-cli is not installed (Debian package redis-server)');

/** A throwaway redis-server on a loopback port, no persistence; stopped (by its pid) at teardown or by `stop`. */
async function startRedis(t: Tap): Promise<{ url: string; stop(): Promise<void> }> {
  const port = await deadPort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  t.teardown(stop);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start in 10 s:\n${out}`)), 10_000);
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('Ready to accept connections')) { clearTimeout(timer); resolve(); }
    });
    child.once('exit', () => { clearTimeout(timer); reject(new Error(`redis-server exited:\n${out}`)); });
  });
  return { url: `redis://127.0.0.1:${port}`, stop };
}

function config(backend: string, store: string): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
rateLimits:
  login: { rate: 1/m, burst: 2 }
  warm: { rate: 1000/s, burst: 1000 }
  store: ${store}
sites:
  - hosts: [localhost]
    routes:
      - { path: /login, upstream: app, rateLimit: login }
      - { path: /warm, upstream: app, rateLimit: warm }
`;
}

async function counted(edge: RunningEdge, limit: string, outcome: string): Promise<number> {
  const metric = await edge.edge.metrics.registry.getSingleMetric('gatehouse_ratelimit_total')?.get();
  return metric?.values.find((v) => v.labels.limit === limit && v.labels.outcome === outcome)?.value ?? 0;
}

/** Until the edge's store answers (its connection is up): bounded, and fails with a message. */
async function connected(edge: RunningEdge): Promise<void> {
  for (let i = 0; i < 50; i++) {
    await get(edge.port, '/warm');
    if (await counted(edge, 'warm', 'allowed') > 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('the edge never reached redis');
}

t.test('two instances sharing a Redis store share one budget; an unreachable store fails open, logged and counted', { skip }, async (t) => {
  const redis = await startRedis(t);
  const backend = await startBackend(t);
  const a = await startEdge(t, config(backend.address, redis.url));
  const b = await startEdge(t, config(backend.address, redis.url));
  await connected(a);
  await connected(b);
  const statuses = [
    (await get(a.port, '/login')).status,
    (await get(b.port, '/login')).status,
    (await get(a.port, '/login')).status,
    (await get(b.port, '/login')).status,
    (await get(a.port, '/login')).status,
  ];
  t.strictSame(statuses, [200, 200, 200, 429, 429], 'burst + 1 for the pair, not per instance');
  const refused = await get(b.port, '/login');
  t.equal(refused.headers['retry-after'], '60');

  await redis.stop();
  const served = await get(a.port, '/login');
  t.equal(served.status, 200, 'served without a decision (fail open)');
  const line = await a.logs.next((l) => l.event === 'ratelimit-store');
  t.equal(line?.code, 'EDGE_ERR_RATELIMIT_STORE');
  t.ok(await counted(a, 'login', 'store_error') >= 1);
});

t.test('an instance busy past the decision timeout still takes the reply Redis sent in time: no false store_error', { skip }, async (t) => {
  const redis = await startRedis(t);
  const store = new RedisStore(redis.url, () => {});
  t.teardown(() => store.close());
  let warm;
  for (let i = 0; i < 100 && warm === undefined; i++) warm = await store.take('warm', 60_000, 0).catch(() => new Promise((r) => setTimeout(r, 100)).then(() => undefined));
  t.same(warm, { allowed: true, ahead: 60_000 }, 'connected');
  // Here we run where a reply is handled (its socket's read). Ask, then stay busy until Redis has
  // run the script (its key exists: the reply is written) and the timeout has passed.
  const started = performance.now();
  const stalled = store.take('stalled', 60_000, 0);
  const port = new URL(redis.url).port;
  const decided = (): boolean => spawnSync('redis-cli', ['-p', port, 'EXISTS', 'gatehouse:rl:stalled']).stdout.toString().trim() === '1';
  stallUntil(10_000, () => performance.now() - started > DECISION_TIMEOUT_MS + 50 && decided(), 'the script run and the timeout passed');
  const decision = await within(10_000, stalled.catch((err: Error) => err.message), 'the stalled decision');
  t.same(decision, { allowed: true, ahead: 60_000 }, 'the reply, not a timeout (the request would have been served without a decision)');
});
