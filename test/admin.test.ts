import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { fetchText, get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

const plain = (port: number, path: string): Promise<{ status: number; body: string }> => fetchText(`http://127.0.0.1:${port}${path}`);

t.test('/healthz and Prometheus /metrics on the admin listener', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/hold') void held.then(() => res.end('released'));
    else res.end('ok');
  });
  const { port, addresses, edge } = await startEdge(t, basicConfig([backend.address]).replace('listen: { http: false, https: "127.0.0.1:0" }', 'listen: { http: false, https: "127.0.0.1:0", admin: "127.0.0.1:0" }'));
  const admin = addresses.admin?.port as number;
  t.strictSame(await plain(admin, '/healthz'), { status: 200, body: '{"status":"ok"}\n' });
  await get(port, '/');
  await get(port, '/', { headers: { host: 'nobody.test' } });
  await get(port, '/');
  await get(port, '/');
  const metrics = await plain(admin, '/metrics');
  t.equal(metrics.status, 200);
  t.match(metrics.body, /gatehouse_requests_total\{route="localhost\/",status="200",protocol="http\/1.1"\} 3/);
  t.match(metrics.body, new RegExp(`gatehouse_upstream_connections_opened_total\\{target="http://${backend.address}"\\} 1\n`), 'three requests, one upstream connection');
  t.match(metrics.body, new RegExp(`gatehouse_upstream_connections_idle\\{target="http://${backend.address}"\\} 1\n`));
  t.match(metrics.body, /gatehouse_requests_total\{route="-",status="421",protocol="http\/1.1"\} 1/);
  t.match(metrics.body, /gatehouse_upstream_response_seconds_count\{upstream="app"\} 3/);
  t.match(metrics.body, /gatehouse_open_connections \d/);
  t.match(metrics.body, /gatehouse_nodejs_eventloop_lag_seconds \d/, 'Node process metrics with an admin listener');
  t.match(metrics.body, /gatehouse_open_websockets 0/);
  t.match(metrics.body, /gatehouse_certificate_expiry_seconds\{cert="[^"]+"\} \d+/);
  t.equal((await plain(admin, '/nope')).status, 404);
  // An in-flight request holds the drain open, so the admin listener can be asked mid-drain.
  const inflight = get(port, '/hold');
  while (!backend.seen.some((s) => s.url === '/hold')) await new Promise((r) => setTimeout(r, 10));
  const closing = edge.close();
  t.equal((await plain(admin, '/healthz')).status, 503, 'draining is not healthy');
  release();
  t.equal((await inflight).body, 'released');
  await closing;
});

t.test('a bare admin port binds loopback only', async (t) => {
  const { parseConfig } = await import('../src/config/load.js');
  const { config } = parseConfig('listen: { admin: 9901 }\ntls: { certificates: [{ cert: a, key: b }] }\nupstreams: { a: { targets: [127.0.0.1:1] } }\nsites: [{ hosts: [x.test], routes: [{ upstream: a }] }]\n', '/x.yaml');
  t.strictSame(config?.listen.admin, { host: '127.0.0.1', port: 9901 });
});

t.test('without listen.admin no Node process metrics are collected (nothing could scrape them; their event-loop monitor wakes the process 100 times a second)', async (t) => {
  const backend = await startBackend(t);
  const { edge } = await startEdge(t, basicConfig([backend.address]));
  t.equal(edge.metrics.registry.getSingleMetric('gatehouse_nodejs_eventloop_lag_seconds'), undefined);
  t.equal(edge.metrics.registry.getSingleMetric('gatehouse_process_cpu_user_seconds_total'), undefined);
  t.not(edge.metrics.registry.getSingleMetric('gatehouse_open_connections'), undefined, 'Gatehouse\'s own metrics stay (cluster workers answer the primary\'s scrape)');
});
