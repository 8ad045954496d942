// Which clock runs when (nginx's proxy_send/read_timeout and client_body_timeout): a long upload
// or a slow reader is not a slow upstream; a stalled client, an upstream that stops reading, and
// one that stops mid-response each end the exchange, and only the upstream's stalls count
// against its health.
import { once } from 'node:events';
import { request as httpsRequest } from 'node:https';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { get, parseRaw, rawTls, rawUpstream } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/** POST `pieces` one at a time, `gapMs` apart; resolves with "STATUS body" (or the error code). */
async function trickle(port: number, pieces: string[], gapMs: number, declared = pieces.join('').length): Promise<string> {
  const certs = await testCerts();
  return new Promise((resolve) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost', 'content-length': String(declared) } }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => { body += d.toString(); });
      res.on('end', () => resolve(`${res.statusCode ?? 0} ${res.headers.connection ?? ''} ${res.headers['strict-transport-security'] ?? ''} ${body.trim()}`));
      res.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    });
    req.on('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
    let i = 0;
    const next = (): void => {
      if (i === pieces.length) return;
      req.write(pieces[i++]);
      setTimeout(next, gapMs);
    };
    next();
  });
}

t.test('an upload that takes longer than timeouts.response is not a slow upstream', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`got ${body.length}`));
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { response: 300ms }'));
  const reply = await trickle(port, Array.from({ length: 10 }, () => 'x'), 100);
  t.match(reply, /^200 .* got 10$/, 'a 1 s upload with a 300 ms response timeout');
});

t.test('a client that stops sending its body gets 408 after timeouts.idle; the target is not blamed', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`got ${body.length}`));
  const config = basicConfig([backend.address], 'timeouts: { idle: 300ms, response: 5s }')
    .replace(/app: \{ targets: \[([^\]]*)\] \}/, 'app: { targets: [$1], maxFails: 1 }');
  const { port, logs } = await startEdge(t, config);
  const started = Date.now();
  const reply = await trickle(port, ['half'], 0, 10); // declares 10 bytes, sends 4, then nothing
  t.match(reply, new RegExp(`^408 close ${HSTS} request body timed out$`));
  t.ok(Date.now() - started < 3000, 'well before any other clock');
  const line = await logs.next((l) => l.msg === 'request' && l.status === 408);
  t.equal(line?.code, 'EDGE_ERR_REQUEST_TIMEOUT');
  t.notOk(logs.find((l) => l.event === 'health'), 'no target marked down (maxFails: 1)');
  t.equal((await get(port, '/')).status, 200, 'the target still serves');
});

t.test('an upstream that stops taking the body: 504 after timeouts.response', async (t) => {
  // Reads the head, then never reads again: the edge's writes back up.
  const up = await rawUpstream(t, (socket) => { socket.pause(); });
  const { port, logs } = await startEdge(t, basicConfig([up.address], 'timeouts: { response: 400ms }'));
  const certs = await testCerts();
  // More than loopback socket buffers can ever absorb, so the edge's writes must back up.
  const big = Buffer.alloc(48 * 1024 * 1024, 'u');
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method: 'POST', path: '/', servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end(big);
  });
  t.equal(status, 504);
  t.match(String((await logs.next((l) => l.status === 504))?.err), /took no request body/);
});

t.test('an upstream that stops mid-response: the client connection is cut after timeouts.response', async (t) => {
  const up = await rawUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst part'));
  const { port, logs } = await startEdge(t, basicConfig([up.address], 'timeouts: { response: 300ms }'));
  const started = Date.now();
  const raw = await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', { waitMs: 5000 });
  t.ok(Date.now() - started < 3000, 'closed by the edge, not by the client giving up');
  const reply = parseRaw(raw);
  t.equal(reply.status, 200);
  t.equal(reply.body, 'first part', 'the client can tell: fewer bytes than Content-Length');
  t.match(String((await logs.next((l) => l.msg === 'request'))?.err), /mid-response/);
});

t.test('the mid-response clock starts when the head arrives, not when the request went', async (t) => {
  // The attempt arms the body's deadline at the end of the read that carried the head (attempt.ts
  // afterRead): 600 ms to the head, 600 ms more to the body, each within the 1 s timeout.
  const up = await rawUpstream(t, (socket) => {
    setTimeout(() => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n'), 600);
    setTimeout(() => socket.write('done'), 1200);
  });
  const { port } = await startEdge(t, basicConfig([up.address], 'timeouts: { response: 1s }'));
  const reply = await get(port, '/');
  t.equal(reply.status, 200);
  t.equal(reply.body, 'done', 'the body came 1.2 s after the request, 600 ms after the head');
});

t.test('a client that reads slowly is not a slow upstream', async (t) => {
  const payload = Buffer.alloc(8 * 1024 * 1024, 'r');
  const backend = await startBackend(t, (_req, res) => res.end(payload));
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { response: 300ms }'));
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem });
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
  socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  socket.pause(); // read nothing for a second: the edge must hold off, not time out
  await new Promise((r) => setTimeout(r, 1000));
  let received = 0;
  socket.on('data', (d: Buffer) => { received += d.length; });
  socket.resume();
  await within(5_000, once(socket, 'end'), 'socket to end');
  t.ok(received > payload.length, `all ${payload.length} bytes and the head arrived (${received})`);
});

t.test('a client that stops reading is cut after timeouts.idle (nginx send_timeout); the target is not blamed', async (t) => {
  // An endless response (1 MB pieces with backpressure, until the edge hangs up): whatever the
  // socket buffers absorb, a client that reads nothing makes the edge's writes back up.
  const piece = Buffer.alloc(1024 * 1024, 's');
  let sent = 0;
  const backend = await startBackend(t, (req, res) => {
    if (req.url !== '/endless') {
      res.end('ok');
      return;
    }
    const pump = (): void => {
      while (!res.destroyed && sent < 1024 * piece.length) {
        sent += piece.length;
        if (!res.write(piece)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
  });
  const config = basicConfig([backend.address], 'timeouts: { idle: 300ms }')
    .replace(/app: \{ targets: \[([^\]]*)\] \}/, 'app: { targets: [$1], maxFails: 1 }');
  const { port, logs } = await startEdge(t, config);
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem });
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
  socket.write('GET /endless HTTP/1.1\r\nHost: localhost\r\n\r\n');
  socket.pause();
  const line = await logs.next((l) => l.msg === 'request', 5000);
  t.equal(line?.code, 'EDGE_ERR_REQUEST_TIMEOUT', 'logged as the client\'s timeout');
  t.equal(line?.aborted, true);
  let received = 0;
  socket.on('data', (d: Buffer) => { received += d.length; });
  socket.resume();
  await Promise.race([once(socket, 'close'), once(socket, 'end')]);
  t.ok(received < sent, `cut short (${received} bytes received, the upstream had produced ${sent})`);
  t.notOk(logs.find((l) => l.event === 'health'), 'no target marked down (maxFails: 1)');
  t.equal((await get(port, '/')).status, 200, 'and the next client is served');
});

t.test('a timeout past Node\'s timer limit (30d) is held to 24d, not fired at once', async (t) => {
  const backend = await startBackend(t, (_req, res) => setTimeout(() => res.end('late but fine'), 200));
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { response: 30d, idle: 30d }'));
  const reply = await get(port, '/');
  t.equal(reply.status, 200);
  t.equal(reply.body, 'late but fine');
  t.match(await trickle(port, ['a', 'b'], 100), /^200 .* late but fine$/, 'and a body with a 30d client clock');
});

t.test('a reused upstream connection carries one deadline per request: the last answer\'s never fires into the next, a slow next still gets 504', async (t) => {
  // The deadline belongs to the pooled connection and is refreshed per request
  // (upstream/connections.ts): the first answer's, left armed, would fire 300 ms into the second.
  const delays = [0, 600, 2500];
  const backend = await startBackend(t, (_req, res) => setTimeout(() => res.end('answered'), delays.shift() ?? 0));
  const { port, logs } = await startEdge(t, basicConfig([backend.address], 'timeouts: { response: 1s }'));
  t.equal((await get(port, '/')).status, 200, 'the first answer at once');
  await new Promise((resolve) => setTimeout(resolve, 700));
  const second = await get(port, '/');
  t.equal(second.status, 200, 'a 600 ms answer, 700 ms after the last one ended, within its own 1 s');
  t.equal(second.body, 'answered');
  const started = Date.now();
  t.equal((await get(port, '/')).status, 504, 'a 2.5 s answer: the deadline still fires');
  t.ok(Date.now() - started < 2400, 'at its 1 s, not when the upstream answered');
  t.match(String((await logs.next((l) => l.status === 504))?.err), /no response headers within 1000 ms/);
  t.equal(backend.connections, 1, 'all three over one pooled connection');
});
