import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import { join } from 'node:path';
import t from 'tap';
import { loadConfig, formatProblem } from '../src/config/load.js';
import { Edge } from '../src/edge.js';
import { explainRoute, routeCommand } from '../src/tools/route.js';
import { clientKey, rank } from '../src/upstream/rendezvous.js';
import { basicConfig, LogCapture, startEdge, tempDir, writeConfigFile } from './helpers/edge.js';
import { h2Get, h2Session } from './helpers/h2.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { clientText, serverFrames } from './helpers/ws-frames.js';
import { openWs } from './helpers/ws.js';
import { startUnixBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const unix = (path: string): string => `unix:${path}`;

t.test('a unix: target carries HTTP/1.1 and h2 requests on one kept-alive connection, with the client\'s Host; logs and metrics name unix:PATH', async (t) => {
  const dir = tempDir(t);
  const backend = await startUnixBackend(t, join(dir, 'app.sock'), 'from the socket');
  const { edge, port, logs } = await startEdge(t, basicConfig([unix(backend.address)]));
  for (let i = 0; i < 3; i++) {
    const reply = await get(port, `/h1/${i}`, { headers: { host: 'app.test' } });
    t.same([reply.status, reply.body], [200, 'from the socket']);
  }
  const h2 = await h2Get(t, port, { ':path': '/h2', ':authority': 'app.test' });
  t.same([h2.status, h2.body], [200, 'from the socket']);
  t.same(backend.seen.map((s) => [s.url, s.headers.host]), [['/h1/0', 'app.test'], ['/h1/1', 'app.test'], ['/h1/2', 'app.test'], ['/h2', 'app.test']]);
  t.equal(backend.connections, 1, 'every request reused the pooled connection');
  t.match(await logs.next((l) => l.path === '/h2'), { status: 200, target: unix(backend.address) });
  const metrics = await edge.metrics.registry.metrics();
  t.match(metrics, `gatehouse_upstream_connections_opened_total{target="${unix(backend.address)}"} 1`);
});

t.test('a relative unix: path is resolved beside the config file', async (t) => {
  const dir = tempDir(t);
  const backend = await startUnixBackend(t, join(dir, 'app.sock'), 'relative');
  const { file } = await writeConfigFile(t, basicConfig(['unix:app.sock']), dir);
  const { config, problems } = await loadConfig(file);
  if (config === undefined) throw new Error(problems.map(formatProblem).join('\n'));
  t.equal(config.upstreams.get('app')?.targets[0]?.id, unix(backend.address));
  const edge = await Edge.create(config, { logDestination: new LogCapture() });
  t.teardown(() => edge.close());
  const { https } = await edge.start();
  t.equal((await get(https.port)).body, 'relative');
});

/**
 * Socket names in `dir` for which the client key of 127.0.0.1 ranks `order` as given (rendezvous
 * weights depend on the ids, and the temp dir differs per run): tries suffixes until they do.
 */
function namesRankedAs(dir: string, roles: readonly string[]): Record<string, string> {
  const key = clientKey('127.0.0.1', 32, 64);
  for (let i = 0; i < 500; i++) {
    const paths = roles.map((role) => join(dir, `${role}-${i}.sock`));
    const ranked = rank(key, paths.map(unix));
    if (ranked.every((id, j) => id === unix(paths[j] as string))) return Object.fromEntries(roles.map((role, j) => [role, paths[j] as string]));
  }
  throw new Error('no suffix ranked the roles in order');
}

t.test('connect failures on a socket path (ENOENT: none there; ECONNREFUSED: not a socket) move the request to the next target', async (t) => {
  const dir = tempDir(t);
  const names = namesRankedAs(dir, ['missing', 'file', 'live']) as { missing: string; file: string; live: string };
  writeFileSync(names.file, 'a regular file, not a socket');
  await startUnixBackend(t, names.live, 'live');
  const { port, logs } = await startEdge(t, basicConfig([names.missing, names.file, names.live].map(unix)).replace('targets:', 'maxFails: 1, targets:'));
  const reply = await get(port, '/', { method: 'POST', body: 'kept for the next target' });
  t.same([reply.status, reply.body], [200, 'live'], 'even a POST: nothing was sent to the failed targets');
  t.match(await logs.next((l) => l.event === 'health' && l.target === unix(names.missing)), { up: false, code: 'EDGE_ERR_UPSTREAM_CONNECT', err: /ENOENT/ });
  t.match(await logs.next((l) => l.event === 'health' && l.target === unix(names.file)), { up: false, code: 'EDGE_ERR_UPSTREAM_CONNECT', err: /ECONNREFUSED/ });
  t.match(await logs.next((l) => l.status === 200), { target: unix(names.live) });
});

t.test('with every socket gone the answer is 502: no target left after the connect failures', async (t) => {
  const dir = tempDir(t);
  const { port, logs } = await startEdge(t, basicConfig([unix(join(dir, 'none.sock'))]));
  t.equal((await get(port)).status, 502);
  t.match(await logs.next((l) => l.status === 502), { code: 'EDGE_ERR_NO_HEALTHY_TARGET' });
});

t.test('stickiness: each client lands on the unix: target `gatehouse route` names for it', async (t) => {
  const dir = tempDir(t);
  const a = await startUnixBackend(t, join(dir, 'a.sock'), 'a');
  const b = await startUnixBackend(t, join(dir, 'b.sock'), 'b');
  const yaml = basicConfig([unix(a.address), unix(b.address)]);
  const { port, edge } = await startEdge(t, yaml);
  const landed = new Set<string>();
  for (let i = 1; i <= 16; i++) {
    const ip = `127.0.0.${i}`;
    const explained = explainRoute(edge.config, { ip, host: 'localhost', path: '/' });
    if (!explained.ok) throw new Error(explained.reason);
    t.same((explained.answer.targets ?? []).map((x) => x.target).sort(), [unix(a.address), unix(b.address)]);
    const raw = parseRaw(await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { localAddress: ip }));
    const chosen = raw.body === 'a' ? unix(a.address) : unix(b.address);
    t.equal(chosen, explained.answer.chosen, `${ip} → ${explained.answer.chosen}`);
    landed.add(chosen);
  }
  t.equal(landed.size, 2, 'both sockets serve some clients');
});

t.test('health checks reach unix: targets: http probes take a failing one out and bring it back', async (t) => {
  const dir = tempDir(t);
  let healthy = false;
  const backend = await startUnixBackend(t, join(dir, 'app.sock'), 'app', {
    answer: (req, res) => {
      res.statusCode = req.url === '/healthz' && !healthy ? 503 : 200;
      res.end('app');
    },
  });
  const { logs } = await startEdge(t, basicConfig([unix(backend.address)]).replace('targets:', 'healthCheck: { path: /healthz, interval: 100ms, timeout: 1s }, targets:'));
  t.match(await logs.next((l) => l.event === 'health' && l.up === false, 5000), { target: unix(backend.address) });
  healthy = true;
  t.match(await logs.next((l) => l.event === 'health' && l.up === true, 5000), { target: unix(backend.address) });
  t.match(backend.seen.find((s) => s.url === '/healthz')?.headers, { host: 'localhost', 'user-agent': 'gatehouse-health' }, 'a probe names localhost, as nginx does for unix:');
});

t.test('a websocket health check on a unix: target: a ws server passes, a plain HTTP one fails', async (t) => {
  const dir = tempDir(t);
  const ws = await startUnixBackend(t, join(dir, 'ws.sock'), 'ws', { ws: true });
  const plain = await startUnixBackend(t, join(dir, 'plain.sock'), 'plain');
  const { logs } = await startEdge(t, basicConfig([unix(ws.address), unix(plain.address)]).replace('targets:', 'healthCheck: { path: /live, interval: 100ms, timeout: 1s, type: websocket }, targets:'));
  t.match(await logs.next((l) => l.event === 'health' && l.up === false, 5000), { target: unix(plain.address) });
  t.ok(await logs.next(() => ws.upgrades.filter((s) => s.url === '/live').length >= 2, 5000), 'the ws server saw probes');
  t.notOk(logs.find((l) => l.event === 'health' && l.target === unix(ws.address)), 'the ws target never went down');
});

t.test('WebSockets reach a ws server on a unix: socket, as an HTTP/1.1 upgrade and bridged from h2 (RFC 8441)', async (t) => {
  const dir = tempDir(t);
  const backend = await startUnixBackend(t, join(dir, 'ws.sock'), 'sock', { ws: true });
  const { port, logs } = await startEdge(t, basicConfig([unix(backend.address)]));
  const ws = await openWs(port, '/h1', { origin: 'https://localhost' });
  ws.send('hello');
  const [message] = (await within(5_000, once(ws, 'message'), 'a message on ws')) as [Buffer];
  t.equal(message.toString(), 'sock:hello');
  ws.close();
  t.match(await logs.next((l) => l.event === 'websocket-open'), { target: unix(backend.address) });

  const session = await h2Session(t, port);
  const stream: ClientHttp2Stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/h2', ':scheme': 'https', ':authority': 'localhost',
    'sec-websocket-version': '13', origin: 'https://localhost',
  }, { endStream: false });
  stream.on('error', () => undefined);
  const [headers] = (await within(5_000, once(stream, 'response'), 'the response head on stream')) as [IncomingHttpHeaders];
  t.equal(Number(headers[':status']), 200);
  stream.write(clientText('over h2'));
  const [chunk] = (await within(5_000, once(stream, 'data'), 'data on stream')) as [Buffer];
  t.equal(serverFrames(chunk)[0]?.[1].toString(), 'sock:over h2');
  t.same(backend.upgrades.map((s) => [s.url, s.headers.host]), [['/h1', `localhost:${port}`], ['/h2', 'localhost']], 'the client\'s Host (ws sends the port)');
  stream.close();
});

t.test('`gatehouse route` ranks unix: targets by their absolute path and marks the chosen one', async (t) => {
  const dir = tempDir(t);
  const { file } = await writeConfigFile(t, basicConfig(['unix:run/a.sock', 'unix:run/b.sock']), dir);
  const text = await routeCommand({ config: file, ip: '192.0.2.1' }, undefined);
  t.equal(text.code, 0, text.stderr);
  const ranked = rank(clientKey('192.0.2.1', 32, 64), [unix(join(dir, 'run/a.sock')), unix(join(dir, 'run/b.sock'))]);
  t.match(text.stdout, `  1. ${ranked[0] ?? ''}   <- chosen\n  2. ${ranked[1] ?? ''}\n`);
  t.match(text.stdout, `chosen    ${ranked[0] ?? ''} (while it is up`);
});
