// A hostile upstream (raw net server) and a hostile client (raw TLS): what is retried, what is
// sent at all, and what a bad answer becomes (DESIGN 9 and 14, issue 10 items 1, 2 and 7).
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { eventually, hostileUpstream } from './helpers/hostile.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { within } from './helpers/wait.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

for (const [variant, lastWords] of [['reads it and closes', ''], ['answers 103 Early Hints and closes', 'HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n']] as const) {
  t.test(`a POST on a reused connection that the upstream ${variant} is sent once: 502, never a retry`, async (t) => {
    const up = await hostileUpstream(t, (socket, request) => {
      if (request.method === 'POST') socket.end(lastWords);
      else socket.write(OK);
    });
    const { port, logs } = await startEdge(t, basicConfig([up.address]));
    t.equal((await get(port, '/warm')).status, 200, 'a GET leaves a pooled keep-alive connection');
    for (const body of [undefined, 'payload']) {
      const before = up.requests.length;
      const reply = await get(port, '/submit', { method: 'POST', ...(body === undefined ? { headers: { 'content-length': '0' } } : { body }) });
      t.equal(reply.status, 502, `${body ?? 'bodiless'}: 502`);
      t.equal(reply.headers['strict-transport-security'], HSTS);
      t.equal(up.requests.slice(before).filter((r) => r.method === 'POST').length, 1, `${body ?? 'bodiless'}: the upstream saw the POST exactly once`);
      await get(port, '/warm'); // a fresh pooled connection for the next round
    }
    t.ok(await logs.next((l) => l.method === 'POST' && l.status === 502), 'logged');
  });
}

t.test('a GET on a reused connection that the upstream had closed is sent again; after a 1xx it is not', async (t) => {
  const up = await hostileUpstream(t, (socket, request) => {
    if (request.nth === 1) socket.write(OK);
    else if (request.path === '/after-hints') socket.end('HTTP/1.1 103 Early Hints\r\n\r\n');
    else socket.end(); // the keep-alive race: closed just as the next request arrived
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  t.equal((await get(port, '/')).status, 200);
  const retried = await get(port, '/again');
  t.equal(retried.status, 200, 'idempotent and nothing came back: retried on a new connection');
  t.equal(up.requests.filter((r) => r.path === '/again').length, 2);
  const hinted = await get(port, '/after-hints');
  t.equal(hinted.status, 502, 'an interim answer is an answer (RFC 9110 §9.2.2): no retry');
  t.equal(up.requests.filter((r) => r.path === '/after-hints').length, 1);
});

/** 2,000 pipelined GETs in one TLS write; resolves with the socket and a counter of responses seen. */
async function pipeline(port: number, count: number): Promise<{ socket: ReturnType<typeof tlsConnect>; responses: () => number; closed: Promise<void> }> {
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => undefined);
  await within(5_000, new Promise((resolve) => socket.once('secureConnect', resolve)), 'the TLS handshake of socket');
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write('GET /p HTTP/1.1\r\nHost: localhost\r\n\r\n'.repeat(count));
  return { socket, responses: () => text.split('HTTP/1.1 200 ').length - 1, closed };
}

t.test('2,000 pipelined GETs in one write: answered in order, one at a time upstream over one connection', async (t) => {
  let inFlight = 0;
  let maxInFlight = 0;
  const up = await hostileUpstream(t, (socket) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    setImmediate(() => {
      inFlight--;
      socket.write(OK);
    });
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const { socket, responses } = await pipeline(port, 2000);
  t.ok(await eventually(() => responses() === 2000, 30_000), `all 2000 answered (${responses()})`);
  socket.destroy();
  t.equal(up.maxOpen, 1, 'never more than one upstream connection for the client connection');
  t.equal(maxInFlight, 1, 'never more than one request in flight');
  t.equal(up.requests.length, 2000);
});

t.test('a client that leaves after its first pipelined answer: the queued requests are never sent', async (t) => {
  const up = await hostileUpstream(t, (socket) => setTimeout(() => socket.write(OK), 20));
  const { port } = await startEdge(t, basicConfig([up.address]));
  const { socket, responses, closed } = await pipeline(port, 2000);
  t.ok(await eventually(() => responses() >= 1, 5000), 'the first one is answered');
  socket.destroy();
  await closed;
  await new Promise((r) => setTimeout(r, 300));
  t.ok(up.requests.length <= 5, `the upstream saw only a handful (${up.requests.length}), not 2000`);
});

t.test('an upstream Transfer-Encoding other than chunked alone → 502 with HSTS, logged', async (t) => {
  for (const coding of ['gzip, chunked', 'gzip', 'chunked, chunked']) {
    const up = await hostileUpstream(t, (socket) => socket.write(`HTTP/1.1 200 OK\r\nTransfer-Encoding: ${coding}\r\n\r\n2\r\nzz\r\n0\r\n\r\n`));
    const { port, logs } = await startEdge(t, basicConfig([up.address]));
    const reply = parseRaw(await rawTls(port, 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
    t.equal(reply.status, 502, coding);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
    t.notMatch(reply.body, /zz/, 'none of the coded bytes reached the client');
    t.ok(await logs.next((l) => l.code === 'EDGE_ERR_UPSTREAM_CODING' && l.status === 502), `${coding}: logged with its code`);
  }
});
