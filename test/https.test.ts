import t from 'tap';
import { basicConfig, startEdge, twoCertConfig, HSTS } from './helpers/edge.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';
import { until } from './helpers/wait.js';

t.test('proxied responses carry exactly one HSTS header: the edge\'s, replacing the upstream\'s', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.setHeader('Strict-Transport-Security', 'max-age=0');
    res.end('hello');
  });
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const reply = await get(port, '/');
  t.equal(reply.status, 200);
  t.equal(reply.body, 'hello');
  const sts = reply.rawHeaders.filter((_, i) => i % 2 === 0 && reply.rawHeaders[i]?.toLowerCase() === 'strict-transport-security');
  t.equal(sts.length, 1);
  t.equal(reply.headers['strict-transport-security'], HSTS);
});

t.test('the configured HSTS value is what goes out', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'hsts: { maxAge: 2d, includeSubDomains: true, preload: true }'));
  t.equal((await get(port, '/')).headers['strict-transport-security'], 'max-age=172800; includeSubDomains; preload');
});

t.test('responses Gatehouse writes itself carry HSTS: 421, 404, 400, 431, 413', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address], 'limits: { headerSize: 4096, bodySize: 10 }').replace('routes: [{ path: /, upstream: app }]', 'routes: [{ path: /only, upstream: app }]'));
  const unknownHost = await get(port, '/only', { headers: { host: 'nobody.example' } });
  t.equal(unknownHost.status, 421);
  t.equal(unknownHost.headers['strict-transport-security'], HSTS);
  const noRoute = await get(port, '/elsewhere');
  t.equal(noRoute.status, 404);
  t.equal(noRoute.headers['strict-transport-security'], HSTS);
  const tooBig = await get(port, '/only', { method: 'POST', body: 'x'.repeat(100) });
  t.equal(tooBig.status, 413);
  t.equal(tooBig.headers['strict-transport-security'], HSTS);

  const bad = parseRaw(await rawTls(port, 'GET /only HTTP/1.1\r\nHost: localhost\r\nBad Header\r\n\r\n'));
  t.equal(bad.status, 400);
  t.strictSame(bad.headers.get('strict-transport-security'), [HSTS]);
  const huge = parseRaw(await rawTls(port, `GET /only HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`));
  t.equal(huge.status, 431);
  t.strictSame(huge.headers.get('strict-transport-security'), [HSTS]);
  t.equal(backend.seen.length, 0, 'none of these reached the upstream');
  // The status alone could hide the wrong cause (a 400 for a 413, a 404 for a 421): each line names its code.
  for (const [status, code] of [[421, 'EDGE_ERR_MISDIRECTED'], [404, 'EDGE_ERR_NO_ROUTE'], [413, 'EDGE_ERR_BODY_TOO_LARGE'], [400, 'EDGE_ERR_BAD_REQUEST'], [431, 'EDGE_ERR_HEADERS_TOO_LARGE']] as const) {
    t.match(await logs.next((l) => l.status === status), { code }, `${status} is logged as ${code}`);
  }
});

t.test('request smuggling pairs are refused with 400 and never reach the upstream', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  const pairs = [
    'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n',
    'POST / HTTP/1.1\r\nHost: localhost\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde',
    'GET / HTTP/1.1\r\nHost: localhost\r\nHost: other.test\r\n\r\n',
  ];
  for (const raw of pairs) {
    const reply = parseRaw(await rawTls(port, raw));
    t.equal(reply.status, 400, JSON.stringify(raw.split('\r\n').slice(2, 4)));
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  }
  t.strictSame(backend.seen.map((s) => s.url).filter((u) => u === '/smuggled'), [], 'nothing smuggled through');
  await until(2000, () => logs.lines.filter((l) => l.status === 400).length >= pairs.length, 'a log line per refused pair');
  t.strictSame(logs.lines.filter((l) => l.status === 400).map((l) => l.code), pairs.map(() => 'EDGE_ERR_BAD_REQUEST'), 'each refusal is logged as a bad request');
  // Transfer-Encoding lists are 501, not 400: test/transfer-coding.test.ts.
});

t.test('routing: Host is case-insensitive and port-blind; unknown Host → 421; longest prefix wins', async (t) => {
  const api = await startBackend(t, (req, res) => res.end(`api ${req.url}`));
  const web = await startBackend(t, (req, res) => res.end(`web ${req.url}`));
  const { port } = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  api: { targets: ["${api.address}"] }
  web: { targets: ["${web.address}"] }
sites:
  - hosts: [localhost, "*.wild.test"]
    routes:
      - { path: /, upstream: web }
      - { path: /api, upstream: api }
      - { path: /api/v2/static, upstream: web }
`);
  t.equal((await get(port, '/api/x', { headers: { host: 'LOCALHOST:443' } })).body, 'api /api/x');
  t.equal((await get(port, '/api/v2/static/y')).body, 'web /api/v2/static/y');
  t.equal((await get(port, '/apix')).body, 'api /apix', 'plain string prefix, as nginx location');
  t.equal((await get(port, '/')).body, 'web /');
  t.equal((await get(port, '/', { headers: { host: 'a.b.wild.test' }, servername: 'x.wild.test' })).body, 'web /', 'wildcard site, any depth');
  t.equal((await get(port, '/', { headers: { host: 'wild.test' } })).status, 421, 'a wildcard does not match its bare domain');
  t.equal((await get(port, '/', { headers: { host: 'unknown.test' } })).status, 421);
  t.equal((await get(port, '/', { headers: { host: 'bad host' } })).status, 400);
});

t.test('domain fronting: SNI names one site, Host another → 421', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, twoCertConfig([['localhost', 'app.test'], ['other.test']], backend.address));
  const fronted = await get(port, '/', { servername: 'other.test', headers: { host: 'app.test' } });
  t.equal(fronted.status, 421);
  t.equal(fronted.headers['strict-transport-security'], HSTS);
  t.equal((await get(port, '/', { servername: 'other.test', headers: { host: 'other.test' } })).status, 200);
  t.equal((await get(port, '/', { servername: 'app.test', headers: { host: 'localhost' } })).status, 200, 'same site, other name is fine');
  t.equal(backend.seen.length, 2);
});

t.test('forwarded headers from an untrusted client are replaced, Host preserved, hop-by-hop removed', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.setHeader('Connection', 'X-Upstream-Private');
    res.setHeader('X-Upstream-Private', 'secret');
    res.setHeader('Keep-Alive', 'timeout=99');
    res.end('ok');
  });
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const reply = await get(port, '/p', {
    headers: {
      host: 'App.Test', 'x-forwarded-for': '6.6.6.6', 'x-real-ip': '6.6.6.6', 'x-forwarded-host': 'evil.test', 'x-forwarded-proto': 'http',
      connection: 'X-Client-Private', 'x-client-private': 'secret', te: 'trailers', 'proxy-authorization': 'Basic eDp5',
    },
  });
  t.equal(reply.status, 200);
  const seen = backend.seen[0];
  t.equal(seen?.headers.host, 'App.Test', 'Host as received');
  t.equal(seen?.headers['x-forwarded-for'], '127.0.0.1');
  t.equal(seen?.headers['x-real-ip'], '127.0.0.1');
  t.equal(seen?.headers['x-forwarded-proto'], 'https');
  t.equal(seen?.headers['x-forwarded-host'], 'App.Test');
  t.equal(seen?.headers['x-client-private'], undefined);
  t.equal(seen?.headers['proxy-authorization'], undefined);
  t.equal(seen?.headers.te, undefined);
  t.equal(reply.headers['x-upstream-private'], undefined);
  t.not(reply.headers['keep-alive'], 'timeout=99', 'the upstream\'s Keep-Alive is its own business');
});

t.test('trustedProxies: the chain is extended and the client is the right-most untrusted hop', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'trustedProxies: [127.0.0.0/8]'));
  await get(port, '/', { headers: { 'x-forwarded-for': '6.6.6.6, 203.0.113.9', 'x-forwarded-proto': 'https' } });
  t.equal(backend.seen[0]?.headers['x-forwarded-for'], '6.6.6.6, 203.0.113.9, 127.0.0.1');
  t.equal(backend.seen[0]?.headers['x-real-ip'], '203.0.113.9');
});

t.test('the request-target reaches the upstream byte for byte', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const target = '/a//b/../c/%2e%2E/%2F?q=%20x&y=|{}^`';
  await rawTls(port, `GET ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
  t.equal(backend.seen[0]?.url, target);
});

t.test('upstream connections are reused even when clients send Connection: close', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  for (let i = 0; i < 10; i++) t.equal((await get(port, '/', { headers: { connection: 'close' } })).status, 200);
  t.equal(backend.connections, 1, 'one upstream TCP connection for ten requests');
  t.equal(backend.seen[3]?.headers.connection, 'keep-alive');
});

t.test('a client Trailer header does not crash anything', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = parseRaw(await rawTls(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n'));
  t.equal(raw.status, 200);
  t.equal(backend.seen[0]?.body, 'abc');
  t.equal((await get(port, '/')).status, 200, 'still serving');
});

t.test('one JSON log line per request with the contract fields', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  await get(port, '/logged?x=1');
  await new Promise((r) => setTimeout(r, 50));
  const line = logs.find((l) => l.msg === 'request' && l.path === '/logged?x=1');
  t.ok(line, 'request logged');
  t.match(line, { method: 'GET', host: 'localhost', status: 200, clientIp: '127.0.0.1', target: `http://${backend.address}`, bytes: `ok from ${backend.port}`.length });
  t.type(line?.durationMs, 'number');
});

t.test('a client that never finishes its headers gets 408 with HSTS (slowloris)', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { headers: 400ms }'));
  const reply = parseRaw(await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: 1', { waitMs: 5000 }));
  t.equal(reply.status, 408);
  t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  t.equal(backend.seen.length, 0);
});

t.test('body-less and bodied requests pipelined on one keep-alive connection are answered in order (optimizeEmptyRequests on Node 24.12+)', async (t) => {
  const backend = await startBackend(t, (req, res, body) => res.end(`${req.method} ${req.url} [${body}]`));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const text = await rawTls(port,
    'GET /1 HTTP/1.1\r\nHost: localhost\r\n\r\n' +
    'POST /2 HTTP/1.1\r\nHost: localhost\r\nContent-Length: 3\r\n\r\nabc' +
    'DELETE /3 HTTP/1.1\r\nHost: localhost\r\n\r\n' +
    'PUT /4 HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nde\r\n0\r\n\r\n' +
    'GET /5 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  t.strictSame(text.match(/(GET|POST|DELETE|PUT) \/\d \[\w*\]/g), ['GET /1 []', 'POST /2 [abc]', 'DELETE /3 []', 'PUT /4 [de]', 'GET /5 []']);
  t.equal(backend.connections, 1, 'one upstream connection carried all five');
});
