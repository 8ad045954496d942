import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls, rawUpstream } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

// Answers Node's HTTP server would write by itself, without HSTS, unless Gatehouse writes them.
t.test('Node\'s built-in answers on :443 carry HSTS: no Host (400), Expect (417), parser errors', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  const cases: [string, number][] = [
    ['GET / HTTP/1.1\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: \r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: localhost\r\nExpect: x\r\n\r\n', 417],
    ['GET / HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue, x\r\nContent-Length: 0\r\n\r\n', 417],
    ['GET / HTTP/9.9\r\nHost: localhost\r\n\r\n', 400],
    ['G@T / HTTP/1.1\r\nHost: localhost\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: localhost\r\nX: a\rb\r\n\r\n', 400],
    ['GET / HTTP/1.1\r\nHost: localhost\r\nContent-Length: x\r\n\r\n', 400],
    [`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 431],
    ['\r\n\r\n\r\nxyz\r\n\r\n', 400],
  ];
  for (const [raw, status] of cases) {
    const reply = parseRaw(await rawTls(port, raw));
    const label = JSON.stringify(raw.slice(0, 60));
    t.equal(reply.status, status, label);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], label);
  }
  t.equal(backend.seen.length, 0, 'none reached the upstream');
  t.ok(logs.find((l) => l.status === 417), 'the 417 is logged');
  t.ok(logs.find((l) => l.status === 400 && l.reason === 'missing Host header'), 'the missing Host is logged');
});

t.test('Expect: 100-continue gets its 100, then the upstream\'s answer with HSTS', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`got ${body}`));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const text = await rawTls(port, 'POST /up HTTP/1.1\r\nHost: localhost\r\nExpect: 100-continue\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi');
  t.match(text, /^HTTP\/1\.1 100 Continue\r\n\r\nHTTP\/1\.1 200 OK\r\n/);
  const final = parseRaw(text.slice(text.indexOf('\r\n\r\n') + 4));
  t.strictSame(final.headers.get('strict-transport-security'), [HSTS]);
  t.equal(final.body, 'got hi');
  t.equal(backend.seen[0]?.headers.expect, undefined, 'the upstream is not asked to send a 100 again');
});

t.test('HTTP/1.0 without Host still reaches the TLS name\'s site, and goes upstream with that name as Host', async (t) => {
  const heads: string[] = [];
  const upstream = await rawUpstream(t, (socket, data) => {
    heads.push(data);
    socket.end('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  const reply = parseRaw(await rawTls(port, 'GET / HTTP/1.0\r\n\r\n'));
  t.equal(reply.status, 200);
  t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  // RFC 9112 §3.2: an HTTP/1.1 request (Gatehouse's upstream request) must carry Host.
  t.match(heads[0], /^GET \/ HTTP\/1\.1\r\n/);
  t.match(heads[0], /\r\nhost: localhost\r\n/i, 'Host is the TLS name');
  t.match(heads[0], /\r\nx-forwarded-host: localhost\r\n/i);
  t.equal((await logs.next((l) => l.msg === 'request'))?.host, 'localhost', 'the log names the host too');
});
