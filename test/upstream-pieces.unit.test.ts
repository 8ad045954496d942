// The pure pieces of the upstream path on their own: the retry and blame decision, the
// classification of what an upstream connection threw, the WebSocket frame-boundary tracker,
// and the keep-alive pool (on a real loopback server, no request written). The handle send()
// returns (tried set, abort, resume) is in upstream-sending.unit.test.ts.
import { createServer, type Socket } from 'node:net';
import t from 'tap';
import { classifyUpstream, EdgeError, ERRORS } from '../src/errors.js';
import { decide, type AttemptFacts } from '../src/upstream/decide.js';
import { FrameBoundary } from '../src/proxy/frames.js';
import { ConnectionPool, type ConnectionUser } from '../src/upstream/connections.js';
import { requestHead } from '../src/upstream/request-head.js';
import type { UpstreamRequest } from '../src/upstream/request.js';
import { until, within } from './helpers/wait.js';

function facts(over: Partial<Omit<AttemptFacts, 'request'>> & { method?: string; body?: AttemptFacts['request']['body']; pinned?: boolean } = {}): AttemptFacts {
  const request = { method: over.method ?? 'GET', body: over.body ?? 'none', ...(over.pinned === true ? { pinned: {} as never } : {}) };
  return { answered: over.answered ?? false, bodyStarted: over.bodyStarted ?? false, reused: over.reused ?? false, untouched: over.untouched ?? true, request };
}

const errno = (code: string): Error => Object.assign(new Error(code), { code });

t.test('decide: a connect failure goes to the next target and is blamed, unless the body already started', async (t) => {
  const refused = classifyUpstream(errno('ECONNREFUSED'));
  t.strictSame(decide(facts({ method: 'POST', body: 'length' }), errno('ECONNREFUSED'), refused), { retry: 'next', blame: true });
  t.strictSame(decide(facts({ bodyStarted: true }), errno('ECONNREFUSED'), refused), { retry: 'none', blame: true });
  const slow = new EdgeError('EDGE_ERR_UPSTREAM_CONNECT_TIMEOUT', 'slow');
  t.strictSame(decide(facts(), slow, slow), { retry: 'next', blame: true });
});

t.test('decide: a stale reused connection is sent again only for a bodiless idempotent request, and nobody is blamed', async (t) => {
  const reset = errno('ECONNRESET');
  const error = classifyUpstream(reset);
  t.strictSame(decide(facts({ reused: true }), reset, error), { retry: 'again', blame: false });
  for (const method of ['HEAD', 'PUT', 'DELETE', 'OPTIONS']) t.equal(decide(facts({ reused: true, method }), reset, error).retry, 'again', method);
  t.strictSame(decide(facts({ reused: true, method: 'POST' }), reset, error), { retry: 'none', blame: true }, 'POST is never replayed');
  t.strictSame(decide(facts({ reused: true, body: 'chunked', method: 'PUT' }), reset, error), { retry: 'none', blame: true }, 'a streamed body is not kept');
  t.strictSame(decide(facts({ reused: false }), reset, error), { retry: 'none', blame: true }, 'a fresh connection that resets is the upstream\'s doing');
  t.strictSame(decide(facts({ reused: true, untouched: false }), reset, error), { retry: 'none', blame: true }, 'a byte of an answer arrived');
});

t.test('decide: nothing is retried once an answer began; blame follows the error\'s source', async (t) => {
  const late = new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', 'mid-response');
  t.strictSame(decide(facts({ answered: true }), late, late), { retry: 'none', blame: true });
  const stalled = new EdgeError('EDGE_ERR_REQUEST_TIMEOUT', 'the client stalled its body');
  t.equal(stalled.source, 'client');
  t.strictSame(decide(facts(), stalled, stalled), { retry: 'none', blame: false }, 'a client that stalled is not the target\'s fault');
  const refused = classifyUpstream(errno('ECONNREFUSED'));
  t.strictSame(decide(facts({ pinned: true }), refused, refused), { retry: 'next', blame: false }, 'a health probe counts its own verdict');
});

t.test('requestHead: the headers as given, byte for byte, then the edge\'s framing and connection fields', async (t) => {
  const base = { method: 'POST', path: '//a/%2e?q', upstream: {} as never, key: '', connectTimeout: 1, responseTimeout: 1, bodyTimeout: 1 };
  const headers = { host: 'app', 'x-caf\u00e9': 'd\u00e9j\u00e0', 'set-thing': ['1', '2'], 'content-length': '3' };
  const request = (over: Partial<UpstreamRequest>): UpstreamRequest => ({ ...base, headers, body: 'length', ...over });
  t.equal(requestHead(request({}), true), 'POST //a/%2e?q HTTP/1.1\r\nhost: app\r\nx-caf\u00e9: d\u00e9j\u00e0\r\nset-thing: 1\r\nset-thing: 2\r\ncontent-length: 3\r\nconnection: keep-alive\r\n\r\n');
  t.match(requestHead(request({ body: 'chunked', headers: { host: 'app' } }), false), /\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n$/, 'chunked re-framing, and close without reuse');
  const upgrade = requestHead(request({ method: 'GET', upgradeKey: 'k' }), true);
  t.notMatch(upgrade, /content-length|keep-alive/, 'a handshake carries no body framing and asks for the upgrade');
  t.match(upgrade, /\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n$/);
});

t.test('classifyUpstream: errnos, parser codes and EdgeErrors become the one table\'s codes', async (t) => {
  for (const code of ['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'EACCES']) {
    t.equal(classifyUpstream(errno(code)).code, 'EDGE_ERR_UPSTREAM_CONNECT', code);
  }
  t.equal(classifyUpstream(errno('HPE_INVALID_TRANSFER_ENCODING')).code, 'EDGE_ERR_UPSTREAM_CODING');
  t.equal(classifyUpstream(errno('HPE_INVALID_CONSTANT')).code, 'EDGE_ERR_UPSTREAM_PROTOCOL');
  t.equal(classifyUpstream(errno('HPE_INCOMPLETE')).code, 'EDGE_ERR_UPSTREAM_RESET', 'an answer cut short is a reset, not a protocol error');
  t.equal(classifyUpstream(errno('ECONNRESET')).code, 'EDGE_ERR_UPSTREAM_RESET');
  t.equal(classifyUpstream('a string').code, 'EDGE_ERR_UPSTREAM_RESET');
  t.equal(classifyUpstream(null).code, 'EDGE_ERR_UPSTREAM_RESET');
  const own = new EdgeError('EDGE_ERR_UPSTREAM_HANDSHAKE', 'bad 101');
  t.equal(classifyUpstream(own), own, 'an EdgeError passes through as it is');
  const cause = errno('ECONNREFUSED');
  t.equal(classifyUpstream(cause).cause, cause, 'the original error is kept as the cause');
  for (const code of Object.keys(ERRORS) as (keyof typeof ERRORS)[]) {
    if (code.startsWith('EDGE_ERR_UPSTREAM_')) t.equal(ERRORS[code].source, 'upstream', code);
  }
});

/** A server→client frame (unmasked) with `length` payload bytes, header as RFC 6455 §5.2 sizes it. */
function frame(length: number, masked = false): Buffer {
  const head = length < 126 ? Buffer.from([0x82, length | (masked ? 0x80 : 0)])
    : length < 65536 ? Buffer.concat([Buffer.from([0x82, 126 | (masked ? 0x80 : 0)]), Buffer.from([length >> 8, length & 0xff])])
      : (() => { const b = Buffer.alloc(10); b[0] = 0x82; b[1] = 127 | (masked ? 0x80 : 0); b.writeBigUInt64BE(BigInt(length), 2); return b; })();
  return Buffer.concat([head, Buffer.alloc(masked ? 4 : 0), Buffer.alloc(length, 0x61)]);
}

t.test('FrameBoundary: between frames only after a whole frame, however the bytes are split', async (t) => {
  const stream = Buffer.concat([frame(5), frame(300), frame(70000), frame(0, true), frame(3, true)]);
  const ends = new Set<number>();
  let at = 0;
  for (const f of [frame(5), frame(300), frame(70000), frame(0, true), frame(3, true)]) ends.add(at += f.length);
  for (const split of [1, 2, 3, 7, 126, 4096, stream.length]) {
    const b = new FrameBoundary();
    t.ok(b.atBoundary(), 'a fresh stream is at a boundary');
    let wrong = 0;
    for (let i = 0; i < stream.length; i += split) {
      const piece = stream.subarray(i, i + split);
      b.feed(piece);
      const end = i + piece.length;
      if (b.atBoundary() !== ends.has(end)) wrong++;
    }
    t.equal(wrong, 0, `split ${split}`);
    t.ok(b.atBoundary(), `split ${split}: at a boundary after the last frame`);
  }
});

t.test('FrameBoundary: a length past 2^53 means the stream is not WebSocket framing; nothing is ever injected again', async (t) => {
  const b = new FrameBoundary();
  const head = Buffer.alloc(10);
  head[0] = 0x82;
  head[1] = 127;
  head.writeBigUInt64BE(2n ** 60n, 2);
  b.feed(head);
  t.notOk(b.atBoundary());
  b.feed(frame(1));
  t.notOk(b.atBoundary(), 'still lost');
});

type Tap = { teardown(fn: () => unknown): void };

/** A loopback server that keeps every socket it accepts (never answers). */
async function listener(t: Tap): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => { s.on('error', () => s.destroy()); accepted.push(s); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => { for (const s of accepted) s.destroy(); server.close(); });
  return { port: (server.address() as { port: number }).port, accepted };
}

function user(): ConnectionUser & { connected: Promise<void>; closed: boolean } {
  let connected!: () => void;
  const u = {
    connected: new Promise<void>((r) => { connected = r; }),
    closed: false,
    onConnect: () => connected(),
    onError: () => undefined,
    onClose: () => { u.closed = true; },
    onHead: () => undefined,
    onBody: () => undefined,
    onComplete: () => undefined,
    onUpgrade: () => undefined,
    timedOut: () => undefined,
  };
  return u;
}

function target(port: number): ConstructorParameters<typeof ConnectionPool>[0] {
  return { id: `http://127.0.0.1:${port}`, protocol: 'http:', host: '127.0.0.1', port, tls: null };
}

t.test('ConnectionPool: LIFO reuse, the keepalive cap, reconfiguring and closing', async (t) => {
  const { port, accepted } = await listener(t);
  const pool = new ConnectionPool(target(port), {}, { max: 1, timeout: 60_000 });
  t.teardown(() => pool.close());
  const a = user();
  const first = pool.acquire(a);
  await within(2000, a.connected, 'first connection up');
  const b = user();
  const second = pool.acquire(b);
  await within(2000, b.connected, 'second connection up');
  t.equal(pool.opened, 2, 'nothing idle: a second connection opens');
  pool.release(first);
  pool.release(second);
  t.equal(pool.idle, 1, 'only keepalive.max connections are kept');
  t.ok(first.socket.destroyed === false && second.socket.destroyed, 'the one over the cap is closed');
  const third = pool.acquire(user());
  t.equal(third, first, 'the kept connection is reused');
  t.equal(third.uses, 1, 'and knows it carried a request before');
  t.equal(pool.opened, 2);
  pool.release(third);
  pool.configure({ max: 0, timeout: 60_000 });
  t.equal(pool.idle, 0, 'a smaller cap closes idle connections at once');
  t.ok(first.socket.destroyed);
  t.notOk(pool.reuses, 'keepalive 0: connections are never reused');
  pool.configure({ max: 4, timeout: 60_000 });
  const busy = pool.acquire(user());
  pool.close();
  pool.release(busy);
  t.ok(busy.socket.destroyed, 'a connection coming back to a closed pool is closed');
  t.equal(pool.idle, 0);
  await until(2000, () => accepted.length >= 2, 'the server saw both connections that came up');
});

t.test('ConnectionPool: an idle connection closes keepaliveTimeout after it was put back', async (t) => {
  const { port } = await listener(t);
  const pool = new ConnectionPool(target(port), {}, { max: 4, timeout: 50 });
  t.teardown(() => pool.close());
  const u = user();
  const conn = pool.acquire(u);
  await within(2000, u.connected, 'connection up');
  pool.release(conn);
  t.equal(pool.idle, 1);
  await until(2000, () => pool.idle === 0, 'the sweep closed the expired connection');
  t.ok(conn.socket.destroyed);
});
