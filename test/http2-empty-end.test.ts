// An h2 request body that ends with an empty DATA frame carrying END_STREAM (RFC 9113 §6.1: a
// DATA frame may be empty; §8.1: END_STREAM on it ends the request). Many clients end an
// upload this way; the body must reach the upstream whole and well framed, at once.
import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { FRAME, RawH2, field, frame, headers, ref, responseFields } from './helpers/h2-frames.js';
import { bytesUpstream, llhttpUpstream } from './helpers/capture.js';
import { rawTls } from './helpers/net.js';

const END_STREAM = 0x1;
const WAIT_MS = 3000;

/** POST / on https for localhost (static table: :method POST is 3), then `extra` fields. */
function postBlock(extra: Buffer[] = []): Buffer {
  return Buffer.concat([ref(3), ref(7), ref(4), field(':authority', 'localhost'), ...extra]);
}

function data(stream: number, payload: string, endStream = false): Buffer {
  return frame(FRAME.DATA, endStream ? END_STREAM : 0, stream, Buffer.from(payload, 'latin1'));
}

/** Rejects with `what` after `ms`: every wait here is bounded and says what it waited for. */
function within<T>(promise: Promise<T>, what: string, ms = WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`${what} not within ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** The status of the stream-1 answer, waiting at most WAIT_MS. */
async function status(client: RawH2): Promise<string | undefined> {
  const f = await client.until((x) => x.type === FRAME.HEADERS && x.stream === 1, 'response HEADERS on stream 1', WAIT_MS);
  return responseFields(f.payload).get(':status');
}

// Responses are read with a response timeout far above WAIT_MS: a hang shows as a missed wait, not a 504.
const TIMEOUTS = 'timeouts: { response: 30000 }\n';

/** Each frame in its own write, `gapMs` apart: the edge dispatches the stream before its body ends. */
async function writeApart(client: RawH2, frames: readonly Buffer[], gapMs: number): Promise<void> {
  for (const [i, f] of frames.entries()) {
    if (i > 0) await new Promise((r) => setTimeout(r, gapMs));
    client.write(f);
  }
}

for (const gapMs of [0, 50]) t.test(`DATA "hello" then an empty DATA with END_STREAM, no content-length, ${gapMs} ms apart: one chunked request, answered at once`, async (t) => {
  const upstream = await bytesUpstream(t);
  const edge = await startEdge(t, basicConfig([`127.0.0.1:${upstream.port}`], TIMEOUTS));
  const client = await RawH2.open(t, edge.port, { tableSize0: true });
  await writeApart(client, [headers(1, postBlock(), { endStream: false }), data(1, 'hello'), data(1, '', true)], gapMs);
  const bytes = await within(upstream.next(), 'the request at the upstream');
  const text = bytes.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n') + 4);
  t.match(head, /^POST \/ HTTP\/1\.1\r\n/);
  t.match(head, /\r\ntransfer-encoding: chunked\r\n/i);
  t.notMatch(head, /content-length/i);
  t.equal(text.slice(head.length), '5\r\nhello\r\n0\r\n\r\n', 'exactly one data chunk and the last chunk');
  t.equal(await status(client), '200');
});

for (const gapMs of [0, 50]) t.test(`only an empty DATA with END_STREAM after HEADERS, ${gapMs} ms apart: an empty body upstream`, async (t) => {
  const upstream = await llhttpUpstream(t);
  const edge = await startEdge(t, basicConfig([`127.0.0.1:${upstream.port}`], TIMEOUTS));
  const client = await RawH2.open(t, edge.port, { tableSize0: true });
  await writeApart(client, [headers(1, postBlock(), { endStream: false }), data(1, '', true)], gapMs);
  const parsed = await within(upstream.next(), 'the request at the upstream');
  t.equal(parsed.method, 'POST');
  t.equal(parsed.body.length, 0, 'empty body');
  t.equal(await status(client), '200');
  await client.until((f) => f.type === FRAME.DATA && f.stream === 1 && (f.flags & END_STREAM) !== 0, 'the end of the answer', WAIT_MS);
  const line = await edge.logs.next((l) => l.msg === 'request', WAIT_MS);
  t.equal(line?.status, 200, 'logged as answered');
  t.equal(line?.code, undefined, 'no EDGE_ERR_ code (a hang would end as EDGE_ERR_UPSTREAM_TIMEOUT)');
});

t.test('content-length: 5, DATA "hello", then an empty DATA with END_STREAM', async (t) => {
  const upstream = await bytesUpstream(t);
  const edge = await startEdge(t, basicConfig([`127.0.0.1:${upstream.port}`], TIMEOUTS));
  const client = await RawH2.open(t, edge.port, { tableSize0: true });
  await writeApart(client, [headers(1, postBlock([field('content-length', '5')]), { endStream: false }), data(1, 'hello'), data(1, '', true)], 50);
  const bytes = await within(upstream.next(), 'the request at the upstream');
  const text = bytes.toString('latin1');
  const head = text.slice(0, text.indexOf('\r\n\r\n') + 4);
  t.match(head, /\r\ncontent-length: 5\r\n/i);
  t.notMatch(head, /transfer-encoding/i);
  t.equal(text.slice(head.length), 'hello');
  t.equal(await status(client), '200');
});

t.test('several DATA frames, an empty one between them, then an empty DATA with END_STREAM', async (t) => {
  const upstream = await llhttpUpstream(t);
  const edge = await startEdge(t, basicConfig([`127.0.0.1:${upstream.port}`], TIMEOUTS));
  const client = await RawH2.open(t, edge.port, { tableSize0: true });
  await writeApart(client, [headers(1, postBlock(), { endStream: false }), data(1, 'hel'), data(1, ''), data(1, 'lo'), data(1, '', true)], 50);
  const parsed = await within(upstream.next(), 'the request at the upstream');
  t.equal(parsed.body.toString('latin1'), 'hello', 'an empty DATA mid-body is not the last chunk');
  t.equal(parsed.headers['transfer-encoding'], 'chunked');
  t.equal(await status(client), '200');
});

// The HTTP/1.1 twin: a chunked body that is only its last-chunk (RFC 9112 §7.1), on a fresh upstream connection.
t.test('HTTP/1.1: a chunked body of only the last-chunk reaches the upstream as an empty body', async (t) => {
  const upstream = await llhttpUpstream(t);
  const edge = await startEdge(t, basicConfig([`127.0.0.1:${upstream.port}`], TIMEOUTS));
  const reply = rawTls(edge.port, 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n0\r\n\r\n', { waitMs: WAIT_MS });
  const parsed = await within(upstream.next(), 'the request at the upstream');
  t.equal(parsed.body.length, 0, 'empty body');
  t.match(await reply, /^HTTP\/1\.1 200 /);
});
