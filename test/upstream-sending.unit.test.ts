// The handle UpstreamClient.send() returns (upstream/client.ts's Sending) on its own, against raw
// loopback upstreams and closed ports: it owns the target, the targets a connect failure ruled
// out and the attempt in flight, and abort() stops that attempt before or after its connect.
import type { Socket } from 'node:net';
import t from 'tap';
import type { EdgeError } from '../src/errors.js';
import { UpstreamClient, type UpstreamRequest, type UpstreamSink } from '../src/upstream/client.js';
import { TargetRegistry, Upstream, type TargetState } from '../src/upstream/targets.js';
import { rank } from '../src/upstream/rendezvous.js';
import type { ResponseHead } from '../src/upstream/response-parser.js';
import { deadPort, rawUpstream } from './helpers/net.js';
import { until, within } from './helpers/wait.js';

type Tap = { teardown(fn: () => unknown): void };

const OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';

function upstreamOf(t: Tap, addresses: readonly string[], maxFails: number): Upstream {
  const registry = new TargetRegistry();
  t.teardown(() => registry.destroy());
  return new Upstream({
    name: 'app',
    targets: addresses.map((a) => {
      const [host, port] = a.split(':') as [string, string];
      return { id: `http://${a}`, protocol: 'http:', host, port: Number(port), tls: null };
    }),
    backup: [],
    hash: { ipv4Prefix: 32, ipv6Prefix: 128 },
    healthCheck: null, maxFails, failTimeout: 60_000, keepalive: 4, keepaliveTimeout: 60_000,
  }, registry);
}

function request(upstream: Upstream, key: string): UpstreamRequest {
  return {
    method: 'GET', path: '/', headers: { host: 'app' }, body: 'none', upstream, key,
    connectTimeout: 2000, responseTimeout: 2000, bodyTimeout: 10_000,
  };
}

/** A key whose rendezvous ranking of `upstream`'s targets is `order` (their ids). */
function keyRanking(upstream: Upstream, order: readonly string[]): string {
  const ids = upstream.targets.map((x) => x.id);
  for (let i = 1; i < 5000; i++) {
    const key = `10.0.${i >> 8}.${i & 255}`;
    if (rank(key, ids).join() === order.join()) return key;
  }
  throw new Error(`no key ranks ${order.join(' > ')}`);
}

/** A sink that writes down what it heard. */
class Recorder implements UpstreamSink {
  readonly source = undefined;
  readonly heard: string[] = [];
  error: EdgeError | undefined;
  body_ = '';
  #settle!: () => void;
  readonly settled = new Promise<void>((resolve) => { this.#settle = resolve; });
  #slow: boolean;

  constructor(slow = false) {
    this.#slow = slow;
  }

  gone(): boolean {
    return false;
  }

  head(head: ResponseHead): void {
    this.heard.push(`head ${head.status}`);
  }

  body(chunk: Buffer): boolean {
    this.heard.push('body');
    this.body_ += chunk.toString('latin1');
    return !this.#slow;
  }

  end(tail: Buffer | undefined): void {
    if (tail !== undefined) this.body_ += tail.toString('latin1');
    this.heard.push('end');
    this.#settle();
  }

  upgrade(socket: Socket): void {
    socket.destroy();
    this.heard.push('upgrade');
    this.#settle();
  }

  fail(error: EdgeError): void {
    this.error = error;
    this.heard.push(`fail ${error.code}`);
    this.#settle();
  }
}

const ids = (set: ReadonlySet<TargetState> | undefined): string[] => [...(set ?? [])].map((x) => x.id);

t.test('Sending: each refused connect adds its target to the tried set, in rank order, until a live one answers', async (t) => {
  const live = await rawUpstream(t, (socket, data) => { if (data.includes('\r\n\r\n')) socket.write(OK); });
  const dead = [`127.0.0.1:${await deadPort()}`, `127.0.0.1:${await deadPort()}`];
  // maxFails 0: no target is marked down, so only the tried set keeps a failed one from being chosen again.
  const upstream = upstreamOf(t, [...dead, live.address], 0);
  const order = [`http://${dead[1] as string}`, `http://${dead[0] as string}`, `http://${live.address}`];
  const downs: string[] = [];
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: (x) => downs.push(x.id) }).send(request(upstream, keyRanking(upstream, order)), sink);
  t.equal(sending.tried, undefined, 'nothing ruled out before the first connect failed');
  t.equal(sending.target?.id, order[0], 'the first attempt goes to the best-ranked target');
  await within(5000, sink.settled, 'the answer');
  t.strictSame(sink.heard, ['head 200', 'end'], 'the sink heard only the live target\'s answer');
  t.equal(sink.body_, 'ok');
  t.strictSame(ids(sending.tried), order.slice(0, 2), 'both refused targets, in the order they were tried');
  t.equal(sending.target?.id, order[2], 'the target is the one that answered');
  t.strictSame(downs, [], 'maxFails 0: nobody marked down');
  t.equal(live.connections, 1);
});

t.test('Sending: when every target refused, the tried set holds them all and the sink hears that none is left', async (t) => {
  const dead = [`127.0.0.1:${await deadPort()}`, `127.0.0.1:${await deadPort()}`, `127.0.0.1:${await deadPort()}`];
  const upstream = upstreamOf(t, dead, 1);
  const order = upstream.targets.map((x) => x.id);
  const downs: string[] = [];
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: (x) => downs.push(x.id) }).send(request(upstream, keyRanking(upstream, order)), sink);
  await within(5000, sink.settled, 'the failure');
  t.strictSame(sink.heard, ['fail EDGE_ERR_NO_HEALTHY_TARGET']);
  t.match(sink.error?.message, /\(last attempt: EDGE_ERR_UPSTREAM_CONNECT: .*ECONNREFUSED/, 'the message keeps why the last target was not enough');
  t.equal((sink.error?.cause as EdgeError | undefined)?.code, 'EDGE_ERR_UPSTREAM_CONNECT', 'and so does its cause');
  t.strictSame(ids(sending.tried), order, 'one more target ruled out per retry');
  t.equal(sending.target?.id, order[2], 'the target is the last one tried');
  t.strictSame(downs, order, 'maxFails 1: each refused target was marked down once');
});

t.test('Sending: a reused connection the upstream had closed is tried again on a fresh one, and rules nothing out', async (t) => {
  const requests = new Map<number, number>();
  const server = await rawUpstream(t, (socket, data, n) => {
    const count = (requests.get(n) ?? 0) + (data.split('\r\n\r\n').length - 1);
    requests.set(n, count);
    // The first connection answers once, then closes as the second request arrives, before any byte of an answer.
    if (n === 1 && count >= 2) socket.destroy();
    else socket.write(OK);
  });
  const upstream = upstreamOf(t, [server.address], 1);
  const target = upstream.targets[0] as TargetState;
  const downs: string[] = [];
  const client = new UpstreamClient({ targetDown: (x) => downs.push(x.id) });
  const first = new Recorder();
  client.send(request(upstream, ''), first);
  await within(2000, first.settled, 'the first answer');
  t.equal(target.pool.idle, 1, 'its connection is pooled');
  const sink = new Recorder();
  const sending = client.send(request(upstream, ''), sink);
  await within(2000, sink.settled, 'the second answer');
  t.strictSame(sink.heard, ['head 200', 'end'], 'answered on a fresh connection');
  t.equal(server.connections, 2);
  t.equal(sending.tried, undefined, 'a stale connection is nobody\'s fault: no target ruled out');
  t.equal(sending.target, target);
  t.strictSame(downs, [], 'and nobody blamed');
});

t.test('Sending: a pinned target is never retried elsewhere, and its failure is not blamed', async (t) => {
  const dead = `127.0.0.1:${await deadPort()}`;
  const live = await rawUpstream(t, (socket, data) => { if (data.includes('\r\n\r\n')) socket.write(OK); });
  const upstream = upstreamOf(t, [dead, live.address], 1);
  const downs: string[] = [];
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: (x) => downs.push(x.id) }).send({ ...request(upstream, ''), pinned: upstream.targets[0] as TargetState }, sink);
  await within(5000, sink.settled, 'the failure');
  t.strictSame(sink.heard, ['fail EDGE_ERR_UPSTREAM_CONNECT']);
  t.equal(sending.tried, undefined, 'a pinned request rules nothing out');
  t.equal(sending.target?.id, `http://${dead}`);
  t.strictSame(downs, []);
  t.equal(live.connections, 0, 'the other target was never asked');
});

t.test('Sending: no healthy target at all fails at once, with no target', async (t) => {
  const upstream = upstreamOf(t, [`127.0.0.1:${await deadPort()}`], 1);
  (upstream.targets[0] as TargetState).activeUp = false;
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: () => undefined }).send(request(upstream, ''), sink);
  t.strictSame(sink.heard, ['fail EDGE_ERR_NO_HEALTHY_TARGET'], 'told before send() returned');
  t.equal(sending.target, undefined);
  sending.abort();
  sending.resume();
  t.strictSame(sink.heard, ['fail EDGE_ERR_NO_HEALTHY_TARGET'], 'abort and resume with nothing in flight do nothing');
});

t.test('Sending: abort() before the connection is up: no byte of the request leaves, the sink hears nothing', async (t) => {
  const received = new Map<number, string>();
  const server = await rawUpstream(t, (socket, data, n) => {
    received.set(n, (received.get(n) ?? '') + data);
    if ((received.get(n) ?? '').includes('\r\n\r\n')) socket.write(OK);
  });
  const upstream = upstreamOf(t, [server.address], 1);
  const target = upstream.targets[0] as TargetState;
  const client = new UpstreamClient({ targetDown: () => undefined });
  const aborted = new Recorder();
  const sending = client.send(request(upstream, ''), aborted);
  t.ok(target.pool.opened === 1 && target.pool.idle === 0, 'the attempt is waiting for a new connection');
  sending.abort();
  sending.abort();
  t.equal(sending.target, target, 'the handle still names the target it was aborted on');
  // A second request on the same client and pool: once it is answered, the first connection has
  // had every chance to deliver bytes, and only the second request may have arrived anywhere.
  const next = new Recorder();
  client.send(request(upstream, ''), next);
  await within(2000, next.settled, 'the next request\'s answer');
  t.strictSame(next.heard, ['head 200', 'end']);
  t.equal(target.pool.opened, 2, 'the aborted connection was not reused');
  t.strictSame([...received.values()].filter((d) => d !== ''), ['GET / HTTP/1.1\r\nhost: app\r\nconnection: keep-alive\r\n\r\n'], 'exactly one request head reached the upstream');
  t.strictSame(aborted.heard, [], 'an aborted request is answered by nobody');
});

t.test('Sending: abort() after the request went out closes the upstream connection; the sink hears nothing', async (t) => {
  let received = '';
  let upstreamSocket: Socket | undefined;
  const server = await rawUpstream(t, (socket, data) => { received += data; upstreamSocket = socket; });
  const upstream = upstreamOf(t, [server.address], 1);
  const target = upstream.targets[0] as TargetState;
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: () => undefined }).send(request(upstream, ''), sink);
  await until(2000, () => received.includes('\r\n\r\n'), 'the request head reached the upstream');
  t.match(received, /^GET \/ HTTP\/1\.1\r\nhost: app\r\nconnection: keep-alive\r\n\r\n$/, 'the head as stated');
  const ended = new Promise<void>((resolve) => upstreamSocket?.once('end', () => resolve()).once('close', () => resolve()));
  sending.abort();
  await within(2000, ended, 'the upstream saw its connection close');
  t.strictSame(sink.heard, [], 'an aborted request is answered by nobody');
  t.equal(target.pool.idle, 0, 'a connection aborted mid-request is not pooled');
});

t.test('Sending: abort() after the answer ended changes nothing: the connection stays pooled', async (t) => {
  const server = await rawUpstream(t, (socket, data) => { if (data.includes('\r\n\r\n')) socket.write(OK); });
  const upstream = upstreamOf(t, [server.address], 1);
  const target = upstream.targets[0] as TargetState;
  const sink = new Recorder();
  const sending = new UpstreamClient({ targetDown: () => undefined }).send(request(upstream, ''), sink);
  await within(2000, sink.settled, 'the answer');
  sending.abort();
  t.strictSame(sink.heard, ['head 200', 'end']);
  t.equal(target.pool.idle, 1, 'the finished connection went back to the pool and stayed there');
});

t.test('Sending: resume() lets a body paused for backpressure flow again', async (t) => {
  const server = await rawUpstream(t, (socket, data) => {
    if (!data.includes('\r\n\r\n')) return;
    socket.write('HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nabc');
    setTimeout(() => socket.write('def'), 50);
  });
  const upstream = upstreamOf(t, [server.address], 1);
  const sink = new Recorder(true);
  const sending = new UpstreamClient({ targetDown: () => undefined }).send(request(upstream, ''), sink);
  await until(2000, () => sink.heard.includes('body'), 'the first piece of the body');
  // Paused: the second piece waits in the kernel until the sink says it drained.
  await new Promise((r) => setTimeout(r, 200));
  t.strictSame(sink.heard, ['head 200', 'body'], 'nothing more while paused');
  sending.resume();
  await within(2000, sink.settled, 'the rest of the body');
  t.equal(sink.body_, 'abcdef');
  t.equal(sink.heard.at(-1), 'end');
});

t.test('a target is usable again once its down window is over; a request key is hashed only when there is a choice', async (t) => {
  const one = upstreamOf(t, ['127.0.0.1:1'], 1);
  const target = one.targets[0] as TargetState;
  t.ok(target.usable(), 'never marked down');
  t.equal(one.requestKey('192.0.2.7'), '', 'one target: no key to hash');
  t.ok(target.recordFailure(Date.now(), 1, 150), 'marked down for 150 ms');
  t.notOk(target.usable(), 'inside the window');
  t.equal(one.choose(''), undefined, 'nothing to choose meanwhile');
  await until(2000, () => target.usable(), 'usable once the window passed');
  t.ok(target.healthy(Date.now()), 'healthy() agrees');
  t.equal(one.choose(''), target);
  target.activeUp = false;
  t.notOk(target.usable(), 'an active probe said down');
  const two = upstreamOf(t, ['127.0.0.1:1', '127.0.0.1:2'], 1);
  t.equal(two.requestKey('192.0.2.7'), two.keyOf('192.0.2.7'), 'two targets: the client key');
});
