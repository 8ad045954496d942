import { execFile } from 'node:child_process';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge, twoCertConfig, HSTS } from './helpers/edge.js';
import { h2Get, h2Request, h2Session } from './helpers/h2.js';
import { get, rawUpstream } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

async function alpn(port: number, offered: string[]): Promise<string | false> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: offered }, () => {
      resolve(s.alpnProtocol ?? false);
      s.destroy();
    });
    s.on('error', reject);
  });
}

t.test('ALPN offers h2 then http/1.1; a client without h2 gets HTTP/1.1; http2.enabled: false offers only http/1.1', async (t) => {
  const backend = await startBackend(t);
  const on = await startEdge(t, basicConfig([backend.address]));
  t.equal(await alpn(on.port, ['http/1.1', 'h2']), 'h2', 'the server\'s preference wins');
  t.equal(await alpn(on.port, ['http/1.1']), 'http/1.1');
  t.equal((await get(on.port, '/')).status, 200, 'HTTP/1.1 still served');
  const off = await startEdge(t, basicConfig([backend.address], 'http2: { enabled: false }'));
  t.equal(await alpn(off.port, ['h2', 'http/1.1']), 'http/1.1');
});

t.test('an h2 request is proxied as HTTP/1.1: Host = :authority, forwarded headers, HSTS, protocol in logs and metrics', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    res.setHeader('strict-transport-security', 'max-age=0');
    res.setHeader('set-cookie', ['a=1', 'b=2']);
    res.end(`hello ${req.url}`);
  });
  const { port, logs, edge } = await startEdge(t, basicConfig([backend.address]));
  const reply = await h2Get(t, port, { ':path': '/x?y=1', ':authority': 'app.test', 'x-forwarded-for': '6.6.6.6', cookie: 'c=3' });
  t.equal(reply.status, 200);
  t.equal(reply.body, 'hello /x?y=1');
  t.equal(reply.headers['strict-transport-security'], HSTS);
  t.strictSame(reply.headers['set-cookie'], ['a=1', 'b=2']);
  const seen = backend.seen[0];
  t.equal(seen?.headers.host, 'app.test');
  t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1', 'a spoofed X-Forwarded-For is dropped');
  t.equal(seen?.headers['x-forwarded-host'], 'app.test');
  t.equal(seen?.headers['x-forwarded-proto'], 'https');
  t.equal(seen?.headers.cookie, 'c=3');
  t.notOk(Object.keys(seen?.headers ?? {}).some((k) => k.startsWith(':')), 'no pseudo-header goes upstream');
  const line = await logs.next((l) => l.msg === 'request' && l.protocol === 'h2');
  t.equal(line?.status, 200);
  t.equal(line?.host, 'app.test');
  await get(port, '/');
  t.ok(await logs.next((l) => l.msg === 'request' && l.protocol === 'http/1.1'), 'h1 lines say http/1.1');
  const metrics = await edge.metrics.registry.metrics();
  t.match(metrics, /gatehouse_requests_total\{route="localhost\/",status="200",protocol="h2"\} 1/);
  t.match(metrics, /gatehouse_requests_total\{route="localhost\/",status="200",protocol="http\/1.1"\} 1/);
});

t.test('generated answers over h2 carry HSTS: 421 for an :authority no site serves, 404, 413', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'limits: { bodySize: 10 }').replace('routes: [{ path: /, upstream: app }]', 'routes: [{ path: /only, upstream: app }]'));
  const session = await h2Session(t, port);
  const unknown = await h2Request(session, { ':path': '/only', ':authority': 'nobody.example' });
  t.equal(unknown.status, 421);
  t.equal(unknown.headers['strict-transport-security'], HSTS);
  const noRoute = await h2Request(session, { ':path': '/elsewhere' });
  t.equal(noRoute.status, 404);
  t.equal(noRoute.headers['strict-transport-security'], HSTS);
  const declared = await h2Request(session, { ':path': '/only', ':method': 'POST', 'content-length': '11' }, 'hello world');
  t.equal(declared.status, 413);
  t.equal(declared.headers['strict-transport-security'], HSTS);
  const streamed = await h2Request(session, { ':path': '/only', ':method': 'POST' }, 'x'.repeat(100)).catch((err: Error) => err);
  t.ok(streamed instanceof Error || streamed.status === 413, 'a body without Content-Length is counted as it streams');
  t.equal(backend.seen.length, 0, 'nothing reached the upstream');
  t.equal((await h2Request(session, { ':path': '/only' })).status, 200, 'the connection still serves');
});

t.test('h2 request bodies reach the HTTP/1.1 upstream framed: Content-Length when sent, else chunked', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`got ${body.length}`));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const session = await h2Session(t, port);
  const sized = await h2Request(session, { ':method': 'POST', 'content-length': '5' }, 'hello');
  t.equal(sized.body, 'got 5');
  t.equal(backend.seen[0]?.headers['content-length'], '5');
  t.equal(backend.seen[0]?.headers['transfer-encoding'], undefined);
  const unsized = await h2Request(session, { ':method': 'POST' }, 'x'.repeat(70_000));
  t.equal(unsized.body, 'got 70000');
  t.equal(backend.seen[1]?.headers['transfer-encoding'], 'chunked');
  t.equal(backend.seen[1]?.body.length, 70_000);
  const bodiless = await h2Request(session, { ':method': 'GET' });
  t.equal(bodiless.status, 200);
  t.equal(backend.seen[2]?.headers['transfer-encoding'], undefined);
  t.equal(backend.seen[2]?.headers['content-length'], undefined);
});

t.test('connection-specific headers from an upstream never reach an h2 response; the stream succeeds', async (t) => {
  const upstream = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\n' +
      'Transfer-Encoding: chunked\r\nUpgrade: h2c\r\nX-Secret: 1\r\nX-Kept: yes\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
  });
  const { port } = await startEdge(t, basicConfig([upstream.address]));
  const reply = await h2Get(t, port);
  t.equal(reply.status, 200);
  t.equal(reply.body, 'hello');
  t.equal(reply.headers['x-kept'], 'yes');
  for (const name of ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'x-secret']) t.equal(reply.headers[name], undefined, name);
});

t.test('connection reuse (RFC 9113 §9.1.1): another site\'s host is served when the presented certificate covers it, else 421, on h1 and h2', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, twoCertConfig([['localhost'], ['app.test'], ['other.test']], backend.address));
  t.equal((await get(port, '/', { servername: 'localhost', headers: { host: 'app.test' } })).status, 200, 'h1: certificate a covers app.test');
  const fronted = await get(port, '/', { servername: 'localhost', headers: { host: 'other.test' } });
  t.equal(fronted.status, 421, 'h1: certificate a does not cover other.test');
  t.equal(fronted.headers['strict-transport-security'], HSTS);
  t.equal((await get(port, '/', { servername: 'other.test', headers: { host: 'app.test' } })).status, 421, 'h1: certificate b does not cover app.test');
  const session = await h2Session(t, port);
  t.equal((await h2Request(session, { ':authority': 'app.test' })).status, 200, 'h2: reused for a covered host');
  const h2fronted = await h2Request(session, { ':authority': 'other.test' });
  t.equal(h2fronted.status, 421);
  t.equal(h2fronted.headers['strict-transport-security'], HSTS);
  t.equal(backend.seen.length, 2);
});

t.test('curl --http2 gets a proxied answer over h2 with HSTS', async (t) => {
  const backend = await startBackend(t);
  const { port, certs, logs } = await startEdge(t, basicConfig([backend.address]));
  const out = await new Promise<string>((resolve, reject) => {
    execFile('curl', ['-sS', '--http2', '--cacert', certs.ca.cert, '--resolve', `localhost:${port}:127.0.0.1`, '-D', '-', `https://localhost:${port}/curl`],
      { timeout: 20_000 }, (err, stdout) => (err === null ? resolve(stdout) : reject(err)));
  });
  t.match(out, /^HTTP\/2 200/);
  t.match(out, `strict-transport-security: ${HSTS}`);
  t.match(out, new RegExp(`ok from ${backend.port}`));
  t.ok(await logs.next((l) => l.msg === 'request' && l.protocol === 'h2' && l.path === '/curl'));
});
