// The upstream HTTP/1.1 client end to end: framing of every kind of response, which
// connections are reused and which are not, request bodies both ways, backpressure.
import { createHash } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { get, parseRaw, rawTls, rawUpstream } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const sha = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');

/** An upstream answering every request (one per chunk) with `response`. */
const answering = (t: Parameters<typeof rawUpstream>[0], response: string | ((data: string) => string)) =>
  rawUpstream(t, (socket, data) => socket.write(typeof response === 'string' ? response : response(data)));

t.test('chunked responses are decoded for the client (extensions and trailers dropped) and the connection is reused', async (t) => {
  const up = await answering(t, 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5;ext=1\r\nhello\r\n7\r\n, world\r\n0\r\nX-Sum: 12\r\n\r\n');
  const { port } = await startEdge(t, basicConfig([up.address]));
  for (let i = 0; i < 3; i++) {
    const reply = await get(port, '/');
    t.equal(reply.status, 200);
    t.equal(reply.body, 'hello, world');
    t.equal(reply.headers.trailer, undefined, 'Trailer is hop-by-hop');
    t.equal(reply.headers['strict-transport-security'], HSTS);
  }
  t.equal(up.connections, 1, 'one upstream connection for three requests');
});

t.test('a chunked response split at every byte arrives intact', async (t) => {
  const response = 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\na\r\n0123456789\r\n3\r\nabc\r\n0\r\n\r\n';
  const up = await rawUpstream(t, (socket) => {
    let i = 0;
    const next = (): void => {
      if (i < response.length && !socket.destroyed) socket.write(response[i++] as string, () => setImmediate(next));
    };
    next();
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const reply = await get(port, '/');
  t.equal(reply.body, '0123456789abc');
  t.equal((await get(port, '/')).body, '0123456789abc', 'and the connection served a second one');
  t.equal(up.connections, 1);
});

t.test('a response without length is read until the upstream closes, and that connection is not reused', async (t) => {
  const up = await rawUpstream(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end'));
  const { port } = await startEdge(t, basicConfig([up.address]));
  t.equal((await get(port, '/')).body, 'until the end');
  t.equal((await get(port, '/')).body, 'until the end');
  t.equal(up.connections, 2);
});

t.test('HEAD, 204 and 304 answers have no body whatever their headers say; the connection stays usable', async (t) => {
  const up = await answering(t, (data) => {
    if (data.startsWith('HEAD')) return 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n';
    if (data.includes('/204')) return 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n';
    if (data.includes('/304')) return 'HTTP/1.1 304 Not Modified\r\nETag: "x"\r\n\r\n';
    return 'HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody';
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const head = await get(port, '/', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.headers['content-length'], '5', 'HEAD keeps the length of the body it would have');
  t.equal((await get(port, '/204')).status, 204);
  const notModified = await get(port, '/304');
  t.equal(notModified.status, 304);
  t.equal(notModified.headers.etag, '"x"');
  t.equal((await get(port, '/')).body, 'body', 'no stray bytes were taken as the next response');
  t.equal(up.connections, 1);
});

t.test('interim 1xx responses are not passed on; the final one is', async (t) => {
  const up = await answering(t, 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const { port } = await startEdge(t, basicConfig([up.address]));
  const raw = parseRaw(await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
  t.equal(raw.status, 200);
  t.equal(raw.body, 'ok');
});

t.test('response headers: case and repeats kept, Connection-listed and hop-by-hop names dropped', async (t) => {
  const up = await answering(t, 'HTTP/1.1 201 Made It\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Mixed-Case: yes\r\nConnection: X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nContent-Length: 0\r\n\r\n');
  const { port } = await startEdge(t, basicConfig([up.address]));
  const reply = await get(port, '/');
  t.equal(reply.status, 201);
  t.same(reply.headers['set-cookie'], ['a=1', 'b=2']);
  t.ok(reply.rawHeaders.includes('X-Mixed-Case'));
  t.equal(reply.headers['x-private'], undefined);
  t.equal(reply.headers['keep-alive'], undefined);
  const raw = parseRaw(await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
  t.match(raw.headers.get('connection'), ['close'], 'the client connection\'s own Connection header, not the upstream\'s');
});

t.test('header bytes outside ASCII pass through unchanged both ways (no re-encoding)', async (t) => {
  let seen = '';
  const up = await rawUpstream(t, (socket, data) => {
    seen += data;
    socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 OK\r\nContent-Disposition: attachment; filename="'), Buffer.from('résumé', 'utf8'), Buffer.from('"\r\nContent-Length: 2\r\n\r\nok')]));
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const utf8 = Buffer.from('café', 'utf8'); // 63 61 66 c3 a9
  const request = Buffer.concat([Buffer.from('GET /x HTTP/1.1\r\nHost: localhost\r\nX-Name: '), utf8, Buffer.from('\r\nX-Latin: \xe9t\xe9\r\nConnection: close\r\n\r\n', 'latin1')]);
  const raw = await rawTls(port, request);
  t.ok(seen.includes(`x-name: ${utf8.toString('latin1')}\r\n`), 'UTF-8 bytes arrive as sent');
  t.ok(seen.includes('x-latin: \xe9t\xe9\r\n'), 'Latin-1 bytes arrive as sent');
  t.ok(raw.includes(`filename="${Buffer.from('résumé', 'utf8').toString('latin1')}"`), 'response header bytes reach the client as sent');

  // The request-target is ASCII (RFC 9112 §3.2; browsers percent-encode): Node's parser refuses raw bytes.
  const rawTarget = parseRaw(await rawTls(port, Buffer.concat([Buffer.from('GET /caf'), Buffer.from([0xc3, 0xa9]), Buffer.from(' HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')])));
  t.equal(rawTarget.status, 400, 'unencoded bytes in the path: 400');
  t.strictSame(rawTarget.headers.get('strict-transport-security'), [HSTS]);
});

t.test('Connection: close, HTTP/1.0 and trailing garbage each retire the upstream connection', async (t) => {
  for (const response of [
    'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok',
    'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA',
  ]) {
    const up = await answering(t, response);
    const { port } = await startEdge(t, basicConfig([up.address]));
    t.equal((await get(port, '/')).body, 'ok');
    t.equal((await get(port, '/')).body, 'ok');
    t.equal(up.connections, 2, JSON.stringify(response.slice(0, 30)));
  }
});

t.test('HTTP/1.0 with keep-alive keeps the connection', async (t) => {
  const up = await answering(t, 'HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok');
  const { port } = await startEdge(t, basicConfig([up.address]));
  await get(port, '/');
  await get(port, '/');
  t.equal(up.connections, 1);
});

t.test('malformed upstream responses become 502 before any byte reaches the client', async (t) => {
  const cases: Record<string, string> = {
    'obs-fold': 'HTTP/1.1 200 OK\r\nX-A: 1\r\n  folded\r\nContent-Length: 0\r\n\r\n',
    'bad status line': 'HTTP/2 200 OK\r\nContent-Length: 0\r\n\r\n',
    'no status code': 'HTTP/1.1 OK\r\n\r\n',
    'bad header name': 'HTTP/1.1 200 OK\r\nBad Name: 1\r\nContent-Length: 0\r\n\r\n',
    'control character in a value': 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n',
    'bad content-length': 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n',
    'conflicting list': 'HTTP/1.1 200 OK\r\nContent-Length: 2, 3\r\n\r\nok',
    '101 to a plain request': 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n',
    'head too large': `HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(70 * 1024)}\r\nContent-Length: 0\r\n\r\n`,
    'closed before answering': '',
  };
  for (const [name, response] of Object.entries(cases)) {
    const up = await rawUpstream(t, (socket) => socket.end(response));
    const { port, logs } = await startEdge(t, basicConfig([up.address]));
    const reply = await get(port, '/');
    t.equal(reply.status, 502, name);
    t.equal(reply.headers['strict-transport-security'], HSTS, `${name}: with HSTS`);
    // A peer that hung up is a reset; every malformed answer is a protocol error, never "unavailable".
    const code = name === 'closed before answering' ? 'EDGE_ERR_UPSTREAM_RESET' : 'EDGE_ERR_UPSTREAM_PROTOCOL';
    t.match(await logs.next((l) => l.msg === 'request' && l.status === 502), { code }, `${name}: logged as ${code}`);
  }
});

t.test('an identical Content-Length list is one length', async (t) => {
  const up = await rawUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok'));
  const { port } = await startEdge(t, basicConfig([up.address]));
  t.equal((await get(port, '/')).body, 'ok');
});

t.test('a broken chunked body after the head was sent closes the client connection instead of ending cleanly', async (t) => {
  const up = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n');
    setTimeout(() => socket.write('ZZ\r\n'), 100);
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const started = Date.now();
  const raw = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', { waitMs: 5000 });
  t.match(raw, /^HTTP\/1\.1 200[^]*hello/, 'the head and the good chunk went out');
  t.notMatch(raw, /\r\n0\r\n\r\n$/, 'no terminating chunk: the client can tell the body is incomplete');
  t.ok(Date.now() - started < 4000, 'the edge closed the connection (rawTls did not wait for its timeout)');
});

t.test('a keep-alive connection the upstream closed as the request arrived: a GET is retried, a POST gets 502', async (t) => {
  // The first connection answers once, then dies on its next request (a keep-alive close racing
  // our reuse); every later connection answers normally.
  const up = await rawUpstream(t, (socket, data, connection) => {
    if (connection === 1 && data.includes('/second')) socket.destroy();
    else socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  t.equal((await get(port, '/first')).status, 200);
  const second = await get(port, '/second');
  t.equal(second.status, 200, 'retried on a fresh connection');
  t.equal(up.connections, 2);

  const post = await rawUpstream(t, (socket, data, connection) => {
    if (connection === 1 && data.includes('/second')) socket.destroy();
    else if (data.startsWith('GET') || data.startsWith('POST')) socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const edge = await startEdge(t, basicConfig([post.address]));
  t.equal((await get(edge.port, '/first')).status, 200);
  t.equal((await get(edge.port, '/second', { method: 'POST', body: 'data' })).status, 502, 'a body is never replayed');
});

t.test('an idle upstream connection that sends unsolicited bytes is retired, not handed the next request', async (t) => {
  const up = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nstale'), 30);
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  t.equal((await get(port, '/')).body, 'ok');
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await get(port, '/')).body, 'ok', 'the stray response was not taken as this one');
  t.equal(up.connections, 2);
});

t.test('request bodies: Content-Length passed as-is, chunked re-framed, 2 MB each way intact', async (t) => {
  const backend = await startBackend(t, (req, res, body) => {
    res.setHeader('x-body-sha', sha(body));
    res.end(req.url === '/echo' ? body : `${req.headers['transfer-encoding'] ?? '-'} ${req.headers['content-length'] ?? '-'} ${body.length}`);
  });
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const small = await get(port, '/', { method: 'POST', body: 'hello' });
  t.equal(small.body, '- 5 5');

  const chunked = parseRaw(await rawTls(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n'));
  t.equal(chunked.status, 200);
  t.match(chunked.body, /chunked - 7/);
  t.equal(backend.seen.at(-1)?.body, 'abcdefg');

  const big = 'z'.repeat(2 * 1024 * 1024);
  const echoed = await get(port, '/echo', { method: 'POST', body: big });
  t.equal(echoed.headers['x-body-sha'], sha(big), 'upstream got all 2 MB');
  t.equal(sha(echoed.body), sha(big), 'client got all 2 MB back');
});

t.test('a large response to a slow reader arrives intact (backpressure, not buffering it all)', async (t) => {
  const payload = Buffer.alloc(8 * 1024 * 1024, 'q');
  const backend = await startBackend(t, (_req, res) => res.end(payload));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n', { waitMs: 20_000 });
  const reply = parseRaw(raw);
  t.equal(reply.status, 200);
  t.equal(reply.body.length, payload.length);
  t.equal((await get(port, '/')).status, 200, 'and the connection is still good for the next one');
  t.equal(backend.connections, 1);
});

t.test('an upstream that answers before reading the whole body: the client connection carries on', async (t) => {
  // Connection 1 stops reading (so the edge's writes back up and it pauses the client's body),
  // then answers; later connections answer normally.
  const up = await rawUpstream(t, (socket, _data, connection) => {
    if (connection === 1) {
      // Stop reading first; answer once the edge's writes have backed up.
      if (!socket.isPaused()) setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nearly'), 500);
      socket.pause();
    } else {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext');
    }
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const size = 16 * 1024 * 1024;
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem });
  t.teardown(() => socket.destroy());
  let received = '';
  socket.on('data', (d: Buffer) => { received += d.toString('latin1'); });
  await within(5_000, new Promise((r) => socket.once('secureConnect', r)), 'the TLS handshake of socket');
  socket.write(`POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${size}\r\n\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 'b');
  for (let sent = 0; sent < size; sent += chunk.length) {
    if (socket.write(chunk)) continue;
    const drained = await new Promise<boolean>((r) => {
      socket.once('drain', () => r(true));
      setTimeout(() => r(false), 10_000).unref();
    });
    if (!drained) break; // the edge stopped reading our body: the assertion below fails
  }
  socket.write('GET /after HTTP/1.1\r\nHost: localhost\r\n\r\n');
  for (let i = 0; i < 200 && !received.includes('next'); i++) await new Promise((r) => setTimeout(r, 50));
  t.match(received, /early[^]*HTTP\/1\.1 200[^]*next/, 'both answers arrived on the one connection');
});
