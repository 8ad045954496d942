import { createHash } from 'node:crypto';
import { constants, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { startBackend } from './helpers/upstream.js';

interface ExpectReply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
  /** A 100 (Continue) arrived before the final answer. */
  readonly continued: boolean;
}

/** A request with a body held back until the edge sends 100, or `waitMs` passes without one. */
function expectRequest(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body: string, waitMs = 3000): Promise<ExpectReply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'localhost', ':method': 'POST', ...headers }, { endStream: false });
    let continued = false;
    let head: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    const send = setTimeout(() => { if (!stream.destroyed) stream.end(body); }, waitMs);
    stream.on('continue', () => {
      continued = true;
      clearTimeout(send);
      stream.end(body);
    });
    stream.on('response', (h) => {
      head = h;
      clearTimeout(send);
    });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('close', () => {
      clearTimeout(send);
      resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString('utf8'), continued });
    });
    stream.on('error', reject);
  });
}

t.test('h2 Expect: 100-continue gets its 100 only once the request is accepted; a refused one gets only its answer', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`got ${body}`));
  const config = basicConfig([backend.address]).replace('routes: [{ path: /, upstream: app }]', 'routes: [{ path: /in, upstream: app }]');
  const { port } = await startEdge(t, config);
  const session = await h2Session(t, port);
  const accepted = await expectRequest(session, { ':path': '/in', expect: '100-continue' }, 'hello');
  t.ok(accepted.continued, 'the 100 arrived before the body was sent');
  t.equal(accepted.status, 200);
  t.equal(accepted.body, 'got hello');
  t.equal(backend.seen[0]?.headers.expect, undefined, 'the upstream is not asked to send a 100 of its own');
  const refused = await expectRequest(session, { ':path': '/elsewhere', expect: '100-continue' }, 'hello');
  t.notOk(refused.continued, 'no 100 before a refusal (RFC 9110 §10.1.1)');
  t.equal(refused.status, 404);
  t.equal(refused.headers['strict-transport-security'], HSTS);
  t.equal(backend.seen.length, 1);
});

t.test('h2 Expect other than 100-continue: 417 with HSTS and its log line; no upstream contact', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  const session = await h2Session(t, port);
  const reply = await expectRequest(session, { expect: 'something-else' }, 'hello', 200);
  t.equal(reply.status, 417);
  t.notOk(reply.continued);
  t.equal(reply.headers['strict-transport-security'], HSTS);
  const line = await logs.next((l) => l.msg === 'request' && l.status === 417);
  t.equal(line?.protocol, 'h2');
  t.match(line?.reason, /Expect/);
  t.equal(backend.connections, 0);
  t.equal((await h2Request(session, {})).status, 200, 'the connection still serves');
});

t.test('HEAD over h2: the upstream\'s fields, no body; a generated answer to HEAD has none either', async (t) => {
  const backend = await startBackend(t, (_req, res) => {
    res.setHeader('content-length', '5');
    res.end('hello');
  });
  const config = basicConfig([backend.address]).replace('routes: [{ path: /, upstream: app }]', 'routes: [{ path: /in, upstream: app }]');
  const { port } = await startEdge(t, config);
  const session = await h2Session(t, port);
  const proxied = await h2Request(session, { ':method': 'HEAD', ':path': '/in' });
  t.equal(proxied.status, 200);
  t.equal(proxied.headers['content-length'], '5');
  t.equal(proxied.headers['strict-transport-security'], HSTS);
  t.equal(proxied.body, '');
  t.equal(backend.seen[0]?.method, 'HEAD');
  const generated = await h2Request(session, { ':method': 'HEAD', ':path': '/elsewhere' });
  t.equal(generated.status, 404);
  t.equal(generated.headers['strict-transport-security'], HSTS);
  t.equal(generated.body, '');
  t.equal((await h2Request(session, { ':path': '/in' })).body, 'hello', 'the connection still serves');
});

t.test('a large h2 response to a slow reader arrives whole (flow control and drain), then the next one on the session', async (t) => {
  const payload = Buffer.alloc(4 * 1024 * 1024);
  for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
  const backend = await startBackend(t, (_req, res) => res.end(payload));
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const session = await h2Session(t, port);
  const digest = await new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'localhost' });
    const hash = createHash('sha256');
    let read = 0;
    stream.on('data', (c: Buffer) => {
      hash.update(c);
      read += c.length;
      // A pause every 256 KiB keeps the stream's window shut for a while: the edge must wait for 'drain'.
      if (read % (256 * 1024) < c.length) {
        stream.pause();
        setTimeout(() => stream.resume(), 20);
      }
    });
    stream.on('end', () => resolve(hash.digest('hex')));
    stream.on('error', reject);
  });
  t.equal(digest, createHash('sha256').update(payload).digest('hex'));
  t.equal((await h2Request(session, {})).status, 200);
});

t.test('a client RST_STREAM mid-response aborts the upstream call at once and logs the exchange as aborted', async (t) => {
  let upstreamClosed = false;
  const backend = await startBackend(t, (req, res) => {
    if (req.url !== '/slow') return void res.end('ok');
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part'); // and never the rest
    res.on('close', () => { upstreamClosed = true; });
  });
  const { port, logs } = await startEdge(t, basicConfig([backend.address], 'timeouts: { response: 30s }'));
  const session = await h2Session(t, port);
  await new Promise<void>((resolve, reject) => {
    const stream = session.request({ ':path': '/slow', ':authority': 'localhost' });
    stream.on('data', () => {
      stream.close(constants.NGHTTP2_CANCEL);
      resolve();
    });
    stream.on('error', reject);
  });
  for (let i = 0; i < 40 && !upstreamClosed; i++) await new Promise((r) => setTimeout(r, 50));
  t.ok(upstreamClosed, 'the upstream connection was closed, not left until timeouts.response');
  const line = await logs.next((l) => l.msg === 'request' && l.path === '/slow');
  t.equal(line?.protocol, 'h2');
  t.equal(line?.aborted, true);
  t.equal((await h2Request(session, {})).status, 200, 'the session still serves');
});
