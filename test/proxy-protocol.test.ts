import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { reloadEdge, startEdge } from './helpers/edge.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { plainBehind, prefixedSocket, requestBehind, v1, v2, v2Local } from './helpers/proxy.js';
import { echoRequest, parseEcho, startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

type Tap = Parameters<typeof startBackend>[0];

/** A backend that answers with what it was told about the client. */
async function echoClient(t: Tap, name = 'b'): Promise<ReturnType<typeof startBackend>> {
  return startBackend(t, echoRequest(name));
}

function config(targets: readonly string[], proxyPeers: string, extra = ''): string {
  return `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", proxyProtocol: [${proxyPeers}] }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: [${targets.map((x) => `"${x}"`).join(', ')}] }
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }]
${extra}`;
}

function body(raw: string): { name: string; realIp: string; xff: string } {
  const parsed = parseRaw(raw);
  if (parsed.status !== 200) throw new Error(`expected 200, got: ${JSON.stringify(raw.slice(0, 200))}`);
  const told = parseEcho(parsed.body);
  return { name: told.name, realIp: String(told.headers['x-real-ip']), xff: String(told.headers['x-forwarded-for']) };
}

t.test('a v1 header and the ClientHello in one segment: the source is the client for headers and logs', async (t) => {
  const backend = await echoClient(t);
  const { port, logs } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  const seen = body(await requestBehind(port, v1('TCP4', '203.0.113.7', '127.0.0.1', 56324, 443), { path: '/one' }));
  t.same([seen.realIp, seen.xff], ['203.0.113.7', '203.0.113.7']);
  const line = await logs.next((l) => l.path === '/one');
  t.equal(line?.clientIp, '203.0.113.7', 'the request log names the PROXY source');
});

t.test('a v2 TCP6 header written one byte per TCP write, then TLS', async (t) => {
  const backend = await echoClient(t);
  const { port } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  const seen = body(await requestBehind(port, v2('2001:db8::42', '2001:db8::1', 40000, 443, Buffer.from([0x04, 0x00, 0x01, 0x00])), { byteByByte: true }));
  t.equal(seen.realIp, '2001:db8::42');
});

t.test('v2 LOCAL (a balancer health check) keeps the peer address', async (t) => {
  const backend = await echoClient(t);
  const { port } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  t.equal(body(await requestBehind(port, v2Local())).realIp, '127.0.0.1');
  t.equal(body(await requestBehind(port, Buffer.from('PROXY UNKNOWN\r\n'))).realIp, '127.0.0.1', 'so does v1 UNKNOWN');
});

t.test('a balancer health check (v2 LOCAL, then close or reset) is dropped quietly: no TLS error, no log line', async (t) => {
  const backend = await echoClient(t);
  const { port, logs } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  for (const leave of ['end', 'reset'] as const) {
    const { tcp } = prefixedSocket(port, Buffer.alloc(0));
    tcp.write(v2Local(), () => (leave === 'end' ? tcp.end() : tcp.resetAndDestroy()));
    await within(5000, once(tcp, 'close'), `the health-check connection closing after ${leave}`);
  }
  await logs.next(() => false, 500);
  t.same(logs.lines.filter((l) => l.level !== 30), [], 'nothing above info was logged');
  t.equal(body(await requestBehind(port, v2Local())).realIp, '127.0.0.1', 'a LOCAL connection that goes on is served');
});

t.test('a listed peer without a header, with a malformed or an oversized one is closed without an answer and logged', async (t) => {
  const backend = await echoClient(t);
  const { port, logs } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  t.equal(await requestBehind(port, Buffer.alloc(0)), '', 'plain TLS from a balancer address');
  const line = await logs.next((l) => l.event === 'proxy-protocol');
  t.match(line, { reason: /no PROXY header/, peer: '127.0.0.1', listener: 'https' });
  t.equal(await requestBehind(port, Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 1\r\n')), '', 'malformed v1');
  t.equal(await requestBehind(port, Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}\r\n`)), '', 'v1 longer than 107 bytes');
  t.equal(backend.seen.length, 0, 'nothing reached the upstream');
  t.equal(body(await requestBehind(port, v1('TCP4', '203.0.113.8', '127.0.0.1', 1, 443))).realIp, '203.0.113.8', 'the listener still serves');
});

t.test('a listed peer that stops half-way through a header is closed after timeouts.headers', async (t) => {
  const backend = await echoClient(t);
  const { port, logs } = await startEdge(t, config([backend.address], '127.0.0.1/32', 'timeouts: { headers: 300ms }'));
  const { tcp } = prefixedSocket(port, Buffer.from('PROXY TCP4 203.0'));
  tcp.write('');
  await within(5000, once(tcp, 'close'), 'the edge closing a half-sent PROXY header (timeouts.headers 300ms)');
  t.pass('the server closed the connection');
  t.match(await logs.next((l) => l.event === 'proxy-protocol'), { reason: /timeouts.headers/ });
});

t.test('a PROXY header from a peer that is not listed is refused; its plain connections are served', async (t) => {
  const backend = await echoClient(t);
  const { port, logs } = await startEdge(t, config([backend.address], '10.0.0.0/8'));
  t.equal(await requestBehind(port, v1('TCP4', '203.0.113.7', '127.0.0.1', 1, 443)), '', 'spoofing attempt closed');
  t.equal(await requestBehind(port, v2('203.0.113.7', '127.0.0.1', 1, 443)), '', 'v2 too');
  t.match(await logs.next((l) => l.event === 'proxy-protocol'), { reason: /not in listen.proxyProtocol/ });
  t.equal(body(await requestBehind(port, Buffer.alloc(0))).realIp, '127.0.0.1', 'a normal client of that listener');
  t.equal(backend.seen.length, 1);
});

t.test('on :80 the PROXY source is the client in the redirect log; a balancer address without a header is closed', async (t) => {
  const backend = await echoClient(t);
  const { addresses, logs } = await startEdge(t, config([backend.address], '127.0.0.1/32'));
  const http = addresses.http?.port ?? 0;
  const answer = await plainBehind(http, v1('TCP4', '198.51.100.4', '127.0.0.1', 1, 80), 'GET /p?q=1 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  t.equal(parseRaw(answer).status, 301);
  t.match(await logs.next((l) => l.path === '/p?q=1'), { clientIp: '198.51.100.4', listener: 'http' });
  t.equal(await plainBehind(http, Buffer.alloc(0), 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', 1000), '', 'a balancer address without a header');
});

t.test('a reload applies a changed listen.proxyProtocol to new connections', async (t) => {
  const backend = await echoClient(t);
  const running = await startEdge(t, config([backend.address], '10.0.0.0/8'));
  const header = v1('TCP4', '203.0.113.70', '127.0.0.1', 1, 443);
  t.equal(await requestBehind(running.port, header), '', 'not listed yet: refused');
  const file = join(running.dir, 'gatehouse.yaml');
  t.equal((await reloadEdge(t, running, readFileSync(file, 'utf8').replace('proxyProtocol: [10.0.0.0/8]', 'proxyProtocol: [127.0.0.1/32]'))).applied, true);
  t.equal(body(await requestBehind(running.port, header)).realIp, '203.0.113.70', 'listed now: the source is the client');
});

t.test('the admin listener never takes PROXY headers: a listed peer is served there without one', async (t) => {
  const backend = await echoClient(t);
  const running = await startEdge(t, config([backend.address], '127.0.0.1/32').replace('proxyProtocol:', 'admin: "127.0.0.1:0", proxyProtocol:'));
  const admin = running.addresses.admin?.port ?? 0;
  const answer = await plainBehind(admin, Buffer.alloc(0), 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  t.equal(parseRaw(answer).status, 200);
  const withHeader = await plainBehind(admin, v1('TCP4', '203.0.113.7', '127.0.0.1', 1, 9901), 'GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  t.equal(parseRaw(withHeader).status, 400, 'a PROXY line there is just a malformed request');
});

t.test('trustedProxies is judged on the PROXY source, not on the balancer', async (t) => {
  const backend = await echoClient(t);
  const { port } = await startEdge(t, config([backend.address], '127.0.0.1/32', 'trustedProxies: [198.51.100.0/24]'));
  const viaTrusted = await requestBehind(port, v1('TCP4', '198.51.100.5', '127.0.0.1', 1, 443), { path: '/' });
  t.equal(body(viaTrusted).xff, '198.51.100.5', 'no X-Forwarded-For sent: the trusted source is the client');
  const request = 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 203.0.113.60\r\nConnection: close\r\n\r\n';
  const chained = await rawBehind(port, v1('TCP4', '198.51.100.5', '127.0.0.1', 1, 443), request);
  t.same([body(chained).realIp, body(chained).xff], ['203.0.113.60', '203.0.113.60, 198.51.100.5']);
  const spoofed = await rawBehind(port, v1('TCP4', '203.0.113.9', '127.0.0.1', 1, 443), request);
  t.same([body(spoofed).realIp, body(spoofed).xff], ['203.0.113.9', '203.0.113.9'], 'an untrusted source cannot claim a chain');
});

t.test('stickiness hashes the PROXY source: the same target as a direct connection from that address', async (t) => {
  const backends = await Promise.all(['a', 'b', 'c'].map((n) => echoClient(t, n)));
  const targets = backends.map((b) => b.address);
  const behind = await startEdge(t, config(targets, '127.0.0.1/32'));
  const direct = await startEdge(t, config(targets, '10.0.0.0/8'));
  const names = new Set<string>();
  for (let i = 10; i < 30; i++) {
    const client = `127.0.0.${i}`;
    const viaProxy = body(await requestBehind(behind.port, v1('TCP4', client, '127.0.0.1', 1, 443)));
    const viaDirect = body(await rawTls(direct.port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { localAddress: client }));
    t.equal(viaProxy.name, viaDirect.name, `${client} lands on the same target`);
    t.equal(viaProxy.realIp, client);
    names.add(viaProxy.name);
  }
  t.ok(names.size > 1, 'clients are spread over several targets');
});

/** A request with exact bytes over TLS behind a header. */
async function rawBehind(port: number, header: Buffer, request: string): Promise<string> {
  const certs = await testCerts();
  const { stream } = prefixedSocket(port, header);
  return new Promise((resolve) => {
    const socket = connect({ socket: stream, servername: 'localhost', ca: certs.caPem }, () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('latin1')));
    socket.on('error', () => resolve(Buffer.concat(chunks).toString('latin1')));
  });
}
