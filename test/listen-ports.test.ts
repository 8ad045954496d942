import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { request as httpRequest, createServer as createHttpServer } from 'node:http';
import { connect as h2Connect, createSecureServer } from 'node:http2';
import { createServer as createHttpsServer } from 'node:https';
import { connect as netConnect, type AddressInfo } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { Edge } from '../src/edge.js';
import { EdgeError } from '../src/errors.js';
import { arrivalPort } from '../src/http/client-address.js';
import { createMorePort } from '../src/listeners/more-ports.js';
import { testCerts } from './helpers/certs.js';
import { LogCapture, reloadEdge, startEdge, writeConfigFile, HSTS } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { deadPort, get } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { openWs } from './helpers/ws.js';
import { requestBehind, v1 } from './helpers/proxy.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

type Tap = Parameters<typeof startBackend>[0];

function config(backend: string, https: string, extra = ''): string {
  return `
listen: { http: false, https: ${https} }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }]
${extra}`;
}

const THREE = '["127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"]';

/** An open TLS connection to `port` (handshake done, so the edge has counted it); destroyed at teardown. */
async function held(t: Tap, port: number): Promise<void> {
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem });
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
}

/**
 * Connect and offer a ClientHello-sized write: 'refused' (nothing listens), 'closed' (accepted,
 * then closed without a byte sent back), 'answered', or 'still open' after 5 s.
 */
async function connectOutcome(port: number): Promise<'refused' | 'closed' | 'answered' | 'still open'> {
  const socket = netConnect({ host: '127.0.0.1', port });
  let bytes = 0;
  let refused = false;
  socket.on('error', (err: NodeJS.ErrnoException) => { refused = err.code === 'ECONNREFUSED'; });
  socket.on('data', (d: Buffer) => { bytes += d.length; });
  socket.once('connect', () => socket.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])));
  let open = false;
  const timer = setTimeout(() => { open = true; socket.destroy(); }, 5000);
  await within(5_000, new Promise((resolve) => socket.once('close', resolve)), 'socket to close');
  clearTimeout(timer);
  return refused ? 'refused' : open ? 'still open' : bytes === 0 ? 'closed' : 'answered';
}

t.test('listen.https lists three addresses: every site answers on each, over HTTP/1.1 and h2, with HSTS', async (t) => {
  const backend = await startBackend(t);
  const { addresses, logs } = await startEdge(t, config(backend.address, THREE));
  t.equal(addresses.httpsAll.length, 3);
  t.equal(addresses.httpsAll[0], addresses.https, 'the first is `https`');
  const ports = addresses.httpsAll.map((a) => a.port);
  t.equal(new Set(ports).size, 3, 'three distinct ports');
  for (const port of ports) {
    const h1 = await get(port);
    t.same([h1.status, h1.body, h1.headers['strict-transport-security']], [200, `ok from ${backend.port}`, HSTS], `h1 on ${port}`);
    const h2 = await h2Get(t, port);
    t.same([h2.status, h2.body], [200, `ok from ${backend.port}`], `h2 on ${port}`);
  }
  t.equal(backend.seen.length, 6);
  t.match(logs.find((l) => l.event === 'start'), { https: ports[0], httpsAll: ports });
});

t.test('limits.connections counts the connections of every https port together', async (t) => {
  const backend = await startBackend(t);
  const { addresses, logs } = await startEdge(t, config(backend.address, THREE, 'limits: { connections: 2 }'));
  const [a, b, c] = addresses.httpsAll.map((x) => x.port) as [number, number, number];
  await held(t, a);
  await held(t, b);
  t.equal(await connectOutcome(c), 'closed', 'a third connection, on the third port, is closed at accept');
  t.match(await logs.next((l) => l.event === 'connection-refused'), { reason: 'limit', listener: 'https' });
});

t.test('a PROXY protocol peer is believed on the second port as on the first', async (t) => {
  const backend = await startBackend(t, (req, res) => res.end(String(req.headers['x-forwarded-for'])));
  const { addresses } = await startEdge(t, config(backend.address, '["127.0.0.1:0", "127.0.0.1:0"]', 'trustedProxies: []').replace('http: false,', 'http: false, proxyProtocol: [127.0.0.1/32],'));
  const second = (addresses.httpsAll[1] as AddressInfo).port;
  const raw = await requestBehind(second, v1('TCP4', '203.0.113.9', '127.0.0.1', 40000, 8448));
  t.match(raw, /^HTTP\/1\.1 200 /);
  t.match(raw, /\r\n\r\n203\.0\.113\.9$/, 'the upstream was told the PROXY header\'s source');
});

t.test('drain: a request in flight on the second port finishes, then every port is closed and the drain is clean', async (t) => {
  let release: () => void = () => undefined;
  const backend = await startBackend(t, (_req, res) => { release = () => res.end('late'); });
  const { edge, addresses, logs } = await startEdge(t, config(backend.address, '["127.0.0.1:0", "127.0.0.1:0"]', 'timeouts: { drain: 30s }'));
  const second = (addresses.httpsAll[1] as AddressInfo).port;
  const pending = get(second);
  t.ok(await logs.next(() => backend.seen.length === 1, 5000), 'the request reached the upstream');
  const closing = edge.close();
  await logs.next((l) => l.event === 'drain');
  t.equal(await connectOutcome(second), 'refused', 'the second port takes no new connection while draining');
  release();
  const reply = await pending;
  t.same([reply.status, reply.body, reply.headers.connection], [200, 'late', 'close']);
  await closing;
  t.match(logs.find((l) => l.event === 'stopped'), { outcome: 'clean' }, 'nothing had to be cut at the deadline');
});

t.test('reload: the same list keeps serving without a note; a changed list asks for a restart', async (t) => {
  const backend = await startBackend(t);
  const yaml = config(backend.address, '["127.0.0.1:0", "127.0.0.1:0"]');
  const running = await startEdge(t, yaml);
  t.same((await reloadEdge(t, running, yaml)).notes, []);
  const moved = await reloadEdge(t, running, config(backend.address, '["127.0.0.1:0"]'));
  t.match(moved.notes, [/listen\.https changed: restart/]);
  t.equal((await get((running.addresses.httpsAll[1] as AddressInfo).port)).status, 200, 'the second port keeps serving until a restart');
});

t.test('plain HTTP redirects name the first https port', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, '["127.0.0.1:0", "127.0.0.1:0"]').replace('http: false', 'http: "127.0.0.1:0"'));
  const location = await new Promise<string | undefined>((resolve, reject) => {
    httpRequest({ host: '127.0.0.1', port: running.addresses.http?.port, path: '/x?y=1', headers: { host: 'localhost' }, agent: false }, (res) => {
      res.resume();
      resolve(res.headers.location);
    }).on('error', reject).end();
  });
  t.equal(location, `https://localhost:${running.addresses.https.port}/x?y=1`);
});

t.test('a second port that cannot be bound fails the start with EDGE_ERR_LISTEN naming listen.https[1]', async (t) => {
  const taken = createHttpServer();
  taken.listen(0, '127.0.0.1');
  await once(taken, 'listening');
  t.teardown(() => taken.close());
  const busy = (taken.address() as AddressInfo).port;
  const { file } = await writeConfigFile(t, config('127.0.0.1:9', `["127.0.0.1:0", "127.0.0.1:${busy}"]`));
  const { config: loaded } = await loadConfig(file);
  if (loaded === undefined) throw new Error('config must be valid');
  const edge = await Edge.create(loaded, { logDestination: new LogCapture() });
  t.teardown(() => edge.close());
  const err = await edge.start().then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof EdgeError);
  t.match(err, { code: 'EDGE_ERR_LISTEN', message: /listen\.https\[1\]: cannot listen on 127\.0\.0\.1:\d+: the port is taken/ });
});

t.test('arrivalPort: the port a connection reached, through a further port, for HTTP/1.1 over TLS and for h2 streams', async (t) => {
  const certs = await testCerts();
  const pair = { cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) };
  const h1 = createHttpsServer(pair, (req, res) => res.end(String(arrivalPort(req.socket))));
  const h2 = createSecureServer(pair, (req, res) => res.end(String(arrivalPort(req.socket))));
  const servers = [h1, h2, createMorePort(h1), createMorePort(h2)];
  for (const s of servers) s.listen(0, '127.0.0.1');
  await Promise.all(servers.map((s) => once(s, 'listening')));
  t.teardown(() => { for (const s of servers) s.close(); h1.closeAllConnections(); });
  const [p1, p2, p1more, p2more] = servers.map((s) => (s.address() as AddressInfo).port) as [number, number, number, number];
  for (const port of [p1, p1more]) t.equal((await get(port)).body, String(port), `h1 via ${port}`);
  for (const port of [p2, p2more]) {
    const session = h2Connect(`https://127.0.0.1:${port}`, { ca: certs.caPem, servername: 'localhost' });
    t.teardown(() => session.destroy());
    const stream = session.request({ ':path': '/' });
    let body = '';
    stream.on('data', (c: Buffer) => { body += c.toString(); });
    await within(5_000, once(stream, 'end'), 'stream to end');
    t.equal(body, String(port), `h2 via ${port}`);
    session.close();
  }
});

t.test('workers: 2 — each worker serves every https port', async (t) => {
  const backend = await startBackend(t);
  const ports = [await deadPort(), await deadPort()];
  const { file } = await writeConfigFile(t, config(backend.address, `[${ports.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`, 'workers: 2'));
  const gh = await spawnGatehouse(t, file, 2);
  for (const port of ports) {
    for (let i = 0; i < 4; i++) t.equal((await get(port)).status, 200, `port ${port}, request ${i}`);
  }
  t.match(gh.output(), new RegExp(`"httpsAll":\\[${ports.join(',')}\\]`), 'the start line lists both ports');
  gh.child.kill('SIGTERM');
  await gh.until(() => gh.child.exitCode !== null, 'exit after SIGTERM', 20_000);
  t.equal(gh.child.exitCode, 0);
});

t.test('default WebSocket origins name every https port: a page served on the second port may open a socket', async (t) => {
  const backend = await startWsBackend(t, 'ws');
  const ports = [await deadPort(), await deadPort()];
  await startEdge(t, config(backend.address, `[${ports.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`));
  const second = ports[1] as number;
  const ws = await openWs(second, '/', { origin: `https://localhost:${second}` });
  ws.send('hi');
  const [reply] = (await within(5_000, once(ws, 'message'), 'a message on ws')) as [Buffer];
  t.equal(reply.toString(), 'ws:hi');
  ws.close();
  await t.rejects(openWs(second, '/', { origin: 'https://localhost:1' }), /HTTP 403/, 'another port is another origin');
});
