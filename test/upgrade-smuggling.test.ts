// Issue 19, item 1: a WebSocket handshake that announces a body must never reach an upstream
// with that framing. Reproduced end to end: an upstream that answers the handshake with a 200
// before reading the announced body and keeps the connection would read the next request on that
// pooled connection as the body, and parse what follows as a request the attacker wrote.
import { once } from 'node:events';
import type { IncomingHttpHeaders } from 'node:http2';
import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { h2Session } from './helpers/h2.js';
import { hostileUpstream, type HostileUpstream } from './helpers/hostile.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { within } from './helpers/wait.js';

type Tap = { teardown(fn: () => unknown): void };

/**
 * A keep-alive upstream that frames requests by Content-Length only (as any HTTP/1.1 server
 * must) and answers each one as soon as its head arrived, before reading its body: 200 "no" to
 * an Upgrade it does not take, "admin secret" to /admin, "ok PATH" to anything else.
 */
function eagerUpstream(t: Tap): Promise<HostileUpstream> {
  return hostileUpstream(t, (socket, request) => {
    const body = /\r\nupgrade:/i.test(request.head) ? 'no' : request.path === '/admin' ? 'admin secret' : `ok ${request.path}`;
    socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`);
  });
}

const handshake = (framing: string): string =>
  'GET /chat HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
  'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://localhost\r\n' +
  `${framing}\r\n`;

// The attacker's own request, carrying the request it wants the upstream to read as a second one.
const SMUGGLED = 'GET /admin HTTP/1.1\r\nHost: localhost\r\nX-Forwarded-For: 6.6.6.6\r\nContent-Length: 0\r\n\r\n';
const CARRIER = `POST /form HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${SMUGGLED.length}\r\nConnection: close\r\n\r\n${SMUGGLED}`;

t.test('an h1 handshake announcing a body is a 400 before any upstream is touched: nothing is smuggled on a pooled connection', async (t) => {
  const upstream = await eagerUpstream(t);
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  // Calibration: the carrier's head exactly as Gatehouse writes it upstream.
  t.match(parseRaw(await rawTls(port, CARRIER)).body, 'ok /form');
  const carrierHead = upstream.requests[0]?.head ?? '';
  t.ok(carrierHead.length > 0, 'the upstream heard the carrier');

  // The handshake announces exactly the carrier's head as its body.
  const refused = parseRaw(await rawTls(port, handshake(`Content-Length: ${carrierHead.length}\r\n`)));
  t.equal(refused.status, 400, 'refused');
  t.strictSame(refused.headers.get('strict-transport-security'), [HSTS]);
  t.strictSame(refused.headers.get('connection'), ['close']);
  const line = await logs.next((l) => l.event === 'websocket-refused' && l.code === 'EDGE_ERR_UPGRADE_BODY');
  t.ok(line, 'one log line with the code');
  t.equal(logs.lines.filter((l) => l.event === 'websocket-refused').length, 1, 'exactly one');

  const victim = parseRaw(await rawTls(port, CARRIER));
  t.equal(victim.body, 'ok /form', 'the next request got its own answer');
  t.notOk(upstream.requests.some((h) => h.path === '/admin'), 'no request the client did not send reached the upstream');
  t.notOk(upstream.requests.some((h) => h.head.includes('6.6.6.6')), 'no forged X-Forwarded-For reached the upstream');
  t.notOk(upstream.requests.some((h) => /\r\nupgrade:/i.test(h.head)), 'the handshake never reached the upstream');
  t.strictSame(upstream.requests.map((h) => h.path), ['/form', '/form']);
});

t.test('Transfer-Encoding on an h1 handshake is a 400 too; the upstream hears nothing', async (t) => {
  const upstream = await eagerUpstream(t);
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  for (const framing of ['Transfer-Encoding: chunked\r\n', 'Content-Length: 1\r\n', 'Content-Length: 00001\r\n']) {
    const body = framing.startsWith('Transfer') ? '3\r\nabc\r\n0\r\n\r\n' : 'x';
    const reply = parseRaw(await rawTls(port, handshake(framing) + body));
    t.equal(reply.status, 400, framing.trim());
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  }
  t.ok(await logs.next((l) => l.event === 'websocket-refused' && l.code === 'EDGE_ERR_UPGRADE_BODY'));
  t.equal(upstream.accepted, 0, 'no upstream connection was made');
});

t.test('a handshake with Content-Length: 0 goes upstream without framing, and a connection that refused it is never reused', async (t) => {
  const upstream = await eagerUpstream(t);
  const { port } = await startEdge(t, basicConfig([upstream.address]));
  const reply = parseRaw(await rawTls(port, handshake('Content-Length: 0\r\n')));
  t.equal(reply.status, 200, 'the upstream\'s refusal is relayed');
  t.equal(reply.body, 'no');
  const written = upstream.requests[0]?.head ?? '';
  t.match(written, /\r\nupgrade: websocket\r\n/i, 'the handshake went upstream');
  t.notMatch(written, /content-length|transfer-encoding/i, 'with no body framing at all');
  t.equal(parseRaw(await rawTls(port, 'GET /next HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')).body, 'ok /next');
  t.equal(upstream.requests[1]?.path, '/next');
  t.not(upstream.requests[1]?.connection, upstream.requests[0]?.connection, 'the next request went on a new connection');
  t.equal(upstream.accepted, 2);
});

t.test('an h2 extended CONNECT announcing a body is a 400 with HSTS before any upstream is touched', async (t) => {
  const upstream = await eagerUpstream(t);
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  const session = await h2Session(t, port);
  if (session.remoteSettings.enableConnectProtocol !== true) await within(5_000, once(session, 'remoteSettings'), 'SETTINGS from the edge on session');
  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/chat', ':scheme': 'https', ':authority': 'localhost',
    'sec-websocket-version': '13', origin: 'https://localhost', 'content-length': '40',
  }, { endStream: false });
  stream.on('error', () => undefined);
  const [head] = (await within(5_000, once(stream, 'response'), 'the response head on stream')) as [IncomingHttpHeaders];
  t.equal(head[':status'], 400);
  t.equal(head['strict-transport-security'], HSTS);
  t.ok(await logs.next((l) => l.event === 'websocket-refused' && l.protocol === 'h2' && l.code === 'EDGE_ERR_UPGRADE_BODY'));
  stream.destroy();
  t.equal(upstream.accepted, 0, 'no upstream connection was made');
});
