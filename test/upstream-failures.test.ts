import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { deadPort, get, rawTls, rawUpstream, startBackend } from './helpers/net.js';

const HSTS = 'max-age=31536000';

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
