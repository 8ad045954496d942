// limits.headerSize and timeouts.headers/idle on h2, held by the front door itself where Node's
// HTTP/2 stack does not hold them (issue 19, items 2 and 3; DESIGN 16).
import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, reloadEdge, startEdge } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { ERROR, FRAME, RawH2, getBlock, headers, indexedField, ref, responseFields } from './helpers/h2-frames.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/** One 4,000-byte value entered in the HPACK dynamic table (index 62), then referenced 500 times: ~4 KB on the wire, 2 MB decoded. */
const BOMB_FIRST = getBlock([indexedField('x-bomb', 'b'.repeat(4000)), ...Array.from({ length: 500 }, () => ref(62))]);
/** The same references again, on a later stream of that connection: 500 bytes on the wire. */
const BOMB_AGAIN = getBlock(Array.from({ length: 500 }, () => ref(62)));

/** Wait, bounded, until `raw` is closed; the time it took (ms). */
async function closedWithin(raw: RawH2, ms: number, what: string): Promise<number> {
  const start = Date.now();
  while (!raw.closed && Date.now() - start < ms) await new Promise((r) => setTimeout(r, 20));
  if (!raw.closed) throw new Error(`${what}: still open after ${ms} ms`);
  return Date.now() - start;
}

async function status(raw: RawH2, stream: number): Promise<Map<string, string>> {
  const answer = await raw.until((f) => f.type === FRAME.HEADERS && f.stream === stream, `the answer on stream ${stream}`);
  return responseFields(answer.payload);
}

t.test('an HPACK-indexed value repeated past limits.headerSize gets 431 with HSTS and EDGE_ERR_HEADERS_TOO_LARGE, and nothing reaches the upstream, from a client that never acknowledges SETTINGS', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  // Node holds streams to SETTINGS_MAX_HEADER_LIST_SIZE only once the client acknowledged it.
  const raw = await RawH2.open(t, port, { ack: false, tableSize0: true });
  raw.write(headers(1, BOMB_FIRST));
  const fields = await status(raw, 1);
  t.equal(fields.get(':status'), '431');
  t.ok(fields.has('strict-transport-security'), 'HSTS on the refusal');
  t.match(await logs.next((l) => l.status === 431), { code: 'EDGE_ERR_HEADERS_TOO_LARGE', protocol: 'h2', headerListSize: 2023213, limit: 16384, target: null });
  raw.write(headers(3, getBlock()));
  t.equal((await status(raw, 3)).get(':status'), '200', 'a request within the limit on the same connection is served');
  t.equal(backend.seen.length, 1, 'the upstream saw only that one');
  t.notOk(backend.seen.some((s) => 'x-bomb' in s.headers), 'and no part of the oversized list');
});

t.test('the decoded list is measured as RFC 9113 §6.5.2 counts it (names, values, 32 per field): one byte over the limit is refused, the limit itself served', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'limits: { headerSize: 1024 }'));
  const raw = await RawH2.open(t, port, { ack: false, tableSize0: true });
  // getBlock's fields: :method GET, :scheme https, :path /, :authority localhost = 7+3+32 + 7+5+32 + 5+1+32 + 10+9+32 = 175.
  const fill = (total: number): Buffer => getBlock([indexedField('x-fill', 'f'.repeat(total - 175 - 6 - 32))]);
  raw.write(headers(1, fill(1024)));
  t.equal((await status(raw, 1)).get(':status'), '200', 'exactly limits.headerSize');
  raw.write(headers(3, fill(1025)));
  t.equal((await status(raw, 3)).get(':status'), '431', 'one byte more');
  t.equal(backend.seen.length, 1);
});

t.test('a reload that lowers limits.headerSize holds open h2 connections to it at once', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, running.port, { ack: false, tableSize0: true });
  const block = getBlock([indexedField('x-mid', 'm'.repeat(2000))]);
  raw.write(headers(1, block));
  t.equal((await status(raw, 1)).get(':status'), '200', 'within 16k');
  t.equal((await reloadEdge(t, running, basicConfig([backend.address], 'limits: { headerSize: 1024 }'))).applied, true);
  raw.write(headers(3, block));
  t.equal((await status(raw, 3)).get(':status'), '431', 'over the reloaded 1k, on the connection opened before');
  t.equal(backend.seen.length, 1);
});

t.test('a connection that keeps sending oversized header lists gets GOAWAY ENHANCE_YOUR_CALM after three 431s and is closed', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, port, { ack: false, tableSize0: true });
  raw.write(Buffer.concat([headers(1, BOMB_FIRST), headers(3, BOMB_AGAIN), headers(5, BOMB_AGAIN), headers(7, BOMB_AGAIN), headers(9, BOMB_AGAIN)]));
  t.equal(await raw.goaway(), ERROR.ENHANCE_YOUR_CALM, 'GOAWAY ENHANCE_YOUR_CALM (0xb)');
  for (const stream of [1, 3, 5]) t.equal((await status(raw, stream)).get(':status'), '431', `stream ${stream}: 431`);
  await closedWithin(raw, 5000, 'the offending connection');
  t.match(await logs.next((l) => l.goaway === 'ENHANCE_YOUR_CALM'), { code: 'EDGE_ERR_HEADERS_TOO_LARGE', status: 431 });
  await new Promise((r) => setTimeout(r, 100));
  t.equal(backend.connections, 0, 'the upstream was never contacted');
  t.equal((await h2Get(t, port)).status, 200, 'other clients are served');
});

t.test('a HEADERS frame without END_HEADERS, then silence, ends the connection at timeouts.headers, not timeouts.idle', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address], 'timeouts: { headers: 500ms, idle: 30s }'));
  const raw = await RawH2.open(t, port);
  raw.write(headers(1, getBlock(), { endHeaders: false }));
  const took = await closedWithin(raw, 5000, 'the connection holding a partial header block');
  t.ok(took >= 400, `not before timeouts.headers (${took} ms)`);
  t.match(await logs.next((l) => l.event === 'h2-head-timeout'), { code: 'EDGE_ERR_REQUEST_TIMEOUT', clientIp: '127.0.0.1' });
  t.equal(backend.seen.length, 0);
});

t.test('an h2 connection that never sends its preface ends at timeouts.headers, as an HTTP/1.1 one does', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { headers: 500ms, idle: 30s }'));
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['h2'] });
  socket.on('error', () => undefined);
  socket.resume(); // read, so the edge's FIN is seen
  t.teardown(() => socket.destroy());
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
  const timer = setTimeout(() => socket.destroy(new Error('still open after 5 s')), 5000);
  await within(5_000, once(socket, 'close'), 'socket to close');
  clearTimeout(timer);
  t.not(socket.errored?.message, 'still open after 5 s', 'closed by the edge');
});

t.test('timeouts.idle closes an h2 connection whatever nghttp2 holds: an unfinished header block does not keep it open', async (t) => {
  const backend = await startBackend(t);
  // headers far beyond idle: here it is the idle close (GOAWAY, then destroy after a short grace) that must act.
  const { port } = await startEdge(t, basicConfig([backend.address], 'timeouts: { headers: 30s, idle: 500ms }'));
  const raw = await RawH2.open(t, port);
  raw.write(headers(1, getBlock(), { endHeaders: false }));
  await closedWithin(raw, 5000, 'the idle connection with a partial header block');
  t.ok(raw.frames.some((f) => f.type === FRAME.GOAWAY), 'a GOAWAY came first');
});

t.test('limits.connections: N connections holding partial header blocks lock nobody out for longer than timeouts.headers', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'limits: { connections: 3 }\ntimeouts: { headers: 500ms, idle: 30s }'));
  const held = await Promise.all([RawH2.open(t, port), RawH2.open(t, port), RawH2.open(t, port)]);
  for (const raw of held) raw.write(headers(1, getBlock(), { endHeaders: false }));
  for (const raw of held) await closedWithin(raw, 5000, 'a connection holding a partial header block');
  // The slots free on close; a moment for the edge to see each TCP close.
  await new Promise((r) => setTimeout(r, 100));
  t.equal((await withTimeout(h2Get(t, port), 5000, 'the legitimate request')).status, 200, 'a legitimate client is served');
});

function withTimeout<T>(work: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms); });
  return Promise.race([work, expired]).finally(() => clearTimeout(timer));
}
