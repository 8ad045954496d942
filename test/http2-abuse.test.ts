import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import {
  ERROR, FRAME, RawH2, field, frame, getBlock, headers, indexedField, ping, ref, rstStream, settings,
} from './helpers/h2-frames.js';
import { startBackend } from './helpers/upstream.js';

t.test('rapid reset (CVE-2023-44487): 1,000 HEADERS+RST_STREAM pairs cost the upstream almost nothing; the connection gets GOAWAY ENHANCE_YOUR_CALM; others are served', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, port);
  const pairs: Buffer[] = [];
  for (let i = 0; i < 1000; i++) {
    const id = 1 + i * 2;
    pairs.push(headers(id, getBlock()), rstStream(id, ERROR.CANCEL));
  }
  raw.write(Buffer.concat(pairs));
  // Gatehouse's reset count answers ENHANCE_YOUR_CALM (Node 20). From Node 22 the streams of one
  // read pile up in Node's C++ stream table past maxConcurrentStreams before JS sees them close;
  // Node refuses the excess, and past its maxSessionRejectedStreams (100) it ends the session
  // itself with INTERNAL_ERROR, before any of them reaches JS. Either way: GOAWAY, no upstream work.
  const code = await raw.goaway();
  t.ok(code === ERROR.ENHANCE_YOUR_CALM || (code === ERROR.INTERNAL_ERROR && Number(process.versions.node.split('.')[0]) >= 22),
    `GOAWAY ${code}: ENHANCE_YOUR_CALM, or Node's own INTERNAL_ERROR on Node 22+`);
  await new Promise((r) => setTimeout(r, 200));
  t.ok(backend.seen.length < 20, `the upstream saw ${backend.seen.length} of 1000 reset requests`);
  t.equal((await h2Get(t, port)).status, 200, 'another client is served');
});

t.test('resets spread over time are counted too: a client resetting stream after stream is cut off', async (t) => {
  const backend = await startBackend(t, () => undefined); // never answers: every stream is reset mid-flight
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, port);
  let id = 1;
  for (let batch = 0; batch < 30 && !raw.closed; batch++) {
    const streams: Buffer[] = [];
    for (let i = 0; i < 10; i++, id += 2) streams.push(headers(id, getBlock()));
    raw.write(Buffer.concat(streams));
    await new Promise((r) => setTimeout(r, 30)); // long enough for the requests to go upstream
    const resets: Buffer[] = [];
    for (let back = id - 20; back < id; back += 2) resets.push(rstStream(back, ERROR.CANCEL));
    raw.write(Buffer.concat(resets));
  }
  // Gatehouse's reset count answers ENHANCE_YOUR_CALM (Node 20). From Node 22 the streams of one
  // read pile up in Node's C++ stream table past maxConcurrentStreams before JS sees them close;
  // Node refuses the excess, and past its maxSessionRejectedStreams (100) it ends the session
  // itself with INTERNAL_ERROR, before any of them reaches JS. Either way: GOAWAY, no upstream work.
  const code = await raw.goaway();
  t.ok(code === ERROR.ENHANCE_YOUR_CALM || (code === ERROR.INTERNAL_ERROR && Number(process.versions.node.split('.')[0]) >= 22),
    `GOAWAY ${code}: ENHANCE_YOUR_CALM, or Node's own INTERNAL_ERROR on Node 22+`);
  await new Promise((r) => setTimeout(r, 200));
  t.ok(backend.connections > 0, 'requests went upstream before their resets');
  const openNow = (): Promise<number> => new Promise((resolve) => backend.server.getConnections((_err, n) => resolve(n)));
  // Aborted at once means within moments, not at timeouts.response (60 s) as it would otherwise be.
  let open = await openNow();
  for (let i = 0; i < 40 && open > 0; i++) open = await new Promise((r) => setTimeout(r, 50)).then(openNow);
  t.equal(open, 0, 'upstream work of the reset streams was aborted: no upstream connection is left open');
});

t.test('http2.maxConcurrentStreams is advertised and enforced', async (t) => {
  const backend = await startBackend(t, () => undefined);
  const { port } = await startEdge(t, basicConfig([backend.address], 'http2: { maxConcurrentStreams: 2 }'));
  const raw = await RawH2.open(t, port);
  const serverSettings = raw.frames.find((f) => f.type === FRAME.SETTINGS && f.flags === 0);
  const entries = new Map<number, number>();
  for (let i = 0; i + 6 <= (serverSettings?.payload.length ?? 0); i += 6) entries.set(serverSettings!.payload.readUInt16BE(i), serverSettings!.payload.readUInt32BE(i + 2));
  t.equal(entries.get(0x3), 2, 'SETTINGS_MAX_CONCURRENT_STREAMS');
  t.equal(entries.get(0x8), 1, 'SETTINGS_ENABLE_CONNECT_PROTOCOL');
  raw.write(Buffer.concat([headers(1, getBlock()), headers(3, getBlock()), headers(5, getBlock())]));
  // Node's answer to a client that ignores the limit is to reset and end the whole session.
  for (let i = 0; i < 100 && !raw.closed && !raw.frames.some((f) => f.type === FRAME.RST_STREAM || f.type === FRAME.GOAWAY); i++) await new Promise((r) => setTimeout(r, 20));
  t.ok(raw.closed || raw.frames.some((f) => f.type === FRAME.RST_STREAM || f.type === FRAME.GOAWAY), 'the excess stream is refused');
  t.notOk(raw.frames.some((f) => f.type === FRAME.HEADERS && f.stream === 5), 'the third stream is never answered');
  await new Promise((r) => setTimeout(r, 200));
  t.ok(backend.seen.length <= 2, 'at most two requests went upstream');
});

t.test('limits.headerSize bounds the decoded header list: large fields and an HPACK bomb never reach the upstream', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address], 'limits: { headerSize: 4096 }'));
  const big = await RawH2.open(t, port);
  big.write(headers(1, getBlock([field('x-big', 'a'.repeat(6000))])));
  await big.until((f) => (f.type === FRAME.RST_STREAM && f.stream === 1) || f.type === FRAME.GOAWAY || (f.type === FRAME.HEADERS && f.stream === 1), 'an answer to stream 1');
  const answered = big.frames.find((f) => f.type === FRAME.HEADERS && f.stream === 1);
  // 431 as a status is fine too; what matters is that it never went upstream.
  if (answered !== undefined) t.match(answered.payload.toString('latin1'), /431|400/);
  // The bomb: one 3,000-byte entry in the dynamic table, then 1,000 one-byte references to it.
  const bomb = await RawH2.open(t, port);
  bomb.write(headers(1, getBlock([indexedField('x-bomb', 'b'.repeat(3000)), ...Array.from({ length: 1000 }, () => ref(62))])));
  await bomb.until((f) => (f.type === FRAME.RST_STREAM && f.stream === 1) || f.type === FRAME.GOAWAY, 'the bomb refused');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(backend.seen.length, 0, 'nothing reached the upstream');
  t.equal((await h2Get(t, port)).status, 200, 'other clients are served');
});

t.test('CONTINUATION flood (CVE-2024-27316): endless CONTINUATION frames end the connection', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, port);
  raw.write(headers(1, getBlock(), { endHeaders: false }));
  for (let i = 0; i < 2000 && !raw.closed; i++) raw.write(frame(FRAME.CONTINUATION, 0, 1, field(`x-${i}`, 'v')));
  t.ok(await raw.goaway().then(() => true, () => raw.closed), 'GOAWAY or closed');
  t.equal(backend.seen.length, 0);
  t.equal((await h2Get(t, port)).status, 200, 'other clients are served');
});

t.test('SETTINGS and PING floods from a client that never reads: the process survives and others are served', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const raw = await RawH2.open(t, port);
  raw.socket.pause(); // never read the ACKs
  const flood = Buffer.concat(Array.from({ length: 5000 }, (_, i) => (i % 2 === 0 ? settings([[0x4, 65535]]) : ping())));
  for (let i = 0; i < 20 && !raw.closed; i++) {
    raw.write(flood);
    await new Promise((r) => setTimeout(r, 20));
  }
  raw.socket.resume();
  const ended = await raw.goaway(8000).then((code) => code === ERROR.ENHANCE_YOUR_CALM, () => raw.closed);
  t.ok(ended, 'the flooding connection got GOAWAY ENHANCE_YOUR_CALM or was closed');
  t.equal((await h2Get(t, port)).status, 200, 'other clients are served');
});
