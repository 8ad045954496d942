import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { clientKey, rank } from '../src/upstream/rendezvous.js';
import { deadPort, get, rawTls, rawUpstream } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

t.test('refused upstream → 502 with HSTS, a short body and a log line; the process lives on', async (t) => {
  const port0 = await deadPort();
  const { port, logs } = await startEdge(t, basicConfig([`127.0.0.1:${port0}`]));
  const reply = await get(port, '/x');
  t.equal(reply.status, 502);
  t.equal(reply.headers['strict-transport-security'], HSTS);
  t.ok(reply.body.length > 0 && reply.body.length < 200);
  await new Promise((r) => setTimeout(r, 50));
  t.ok(logs.find((l) => l.msg === 'request' && l.status === 502 && typeof l.code === 'string'), 'logged with an error code');
  t.equal((await get(port, '/x')).status, 502, 'still answering');
});

t.test('a connect failure moves to the next-ranked target: a GET never sees 502 while one is healthy', async (t) => {
  const live = await startBackend(t);
  const dead = `127.0.0.1:${await deadPort()}`;
  const { port } = await startEdge(t, basicConfig([dead, live.address]));
  for (let i = 0; i < 10; i++) {
    const reply = await get(port, '/', { localAddress: `127.0.0.${10 + i}` });
    t.equal(reply.status, 200, `client 127.0.0.${10 + i}`);
  }
});

t.test('a connect failure moves a request with a body too: none of it is lost on the way', async (t) => {
  const live = await startBackend(t, (req, res, body) => res.end(`${req.headers['content-length'] ?? req.headers['transfer-encoding']} ${body}`));
  const dead = `127.0.0.1:${await deadPort()}`;
  const { port } = await startEdge(t, basicConfig([dead, live.address], 'limits: { bodySize: 1048576 }'));
  // Clients whose first choice is the dead target (three: maxFails then takes it out of rotation).
  const ids = [`http://${dead}`, `http://${live.address}`];
  const deadFirst = Array.from({ length: 200 }, (_, i) => `127.0.0.${30 + i}`).filter((ip) => rank(clientKey(ip, 32, 64), ids)[0] === ids[0]);
  t.ok(deadFirst.length >= 3, 'clients that try the dead target first');
  const [a, b, c] = deadFirst as [string, string, string];
  const small = await get(port, '/', { method: 'POST', body: 'form=1', localAddress: a });
  t.equal(small.status, 200);
  t.equal(small.body, '6 form=1');
  const big = 'b'.repeat(256 * 1024);
  const large = await get(port, '/', { method: 'POST', body: big, localAddress: b });
  t.equal(large.body, `${big.length} ${big}`, '256 KB body intact after the failed connect');
  const chunked = await rawTls(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n', { localAddress: c });
  t.match(chunked, /^HTTP\/1\.1 200/);
  t.match(chunked, /chunked abcde/, 'chunked body (counted against limits.bodySize) intact');
  t.equal(live.seen.length, 3, 'each reached the live target once');

  // With no target left the body is dropped and the client gets 502.
  const { port: lonely } = await startEdge(t, basicConfig([dead]));
  t.equal((await get(lonely, '/', { method: 'POST', body: big })).status, 502);
});

t.test('upstream silent after the request → 504 after timeouts.response, with HSTS', async (t) => {
  const hang = await rawUpstream(t, () => undefined);
  const { port } = await startEdge(t, basicConfig([hang.address], 'timeouts: { response: 300ms }'));
  const reply = await get(port, '/slow');
  t.equal(reply.status, 504);
  t.equal(reply.headers['strict-transport-security'], HSTS);
});

t.test('upstream reset after receiving the request → 502', async (t) => {
  const reset = await rawUpstream(t, (socket) => socket.resetAndDestroy());
  const { port } = await startEdge(t, basicConfig([reset.address]));
  const reply = await get(port, '/');
  t.equal(reply.status, 502);
  t.equal(reply.headers['strict-transport-security'], HSTS);
});

t.test('an upstream response with ambiguous framing is not passed on', async (t) => {
  const ambiguous = await rawUpstream(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'));
  const { port } = await startEdge(t, basicConfig([ambiguous.address]));
  t.equal((await get(port, '/')).status, 502);
  const doubled = await rawUpstream(t, (socket) => socket.end('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!'));
  const edge2 = await startEdge(t, basicConfig([doubled.address]));
  t.equal((await get(edge2.port, '/')).status, 502);
});

t.test('a client that goes away aborts its upstream request at once', async (t) => {
  let upstreamClosed: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => { upstreamClosed = resolve; });
  const backend = await startBackend(t, () => undefined); // never answers
  backend.server.on('request', (req) => req.socket.on('close', () => upstreamClosed()));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const pending = rawTls(port, 'GET /never HTTP/1.1\r\nHost: localhost\r\n\r\n', { waitMs: 300 });
  await pending; // client closes its socket after 300 ms without an answer
  const guard = new Promise<string>((resolve) => setTimeout(() => resolve('upstream still open'), 5000).unref());
  t.equal(await Promise.race([closed.then(() => 'upstream closed'), guard]), 'upstream closed');
});
