// upstreams.NAME.keepalive / keepaliveTimeout: how long and how many pooled upstream connections
// are kept, seen from the backend's side of real loopback sockets.
import type { Socket } from 'node:net';
import t from 'tap';
import type { ConnectionPool } from '../src/upstream/connections.js';
import { basicConfig, reloadEdge, startEdge, type RunningEdge } from './helpers/edge.js';
import { eventually, hostileUpstream } from './helpers/hostile.js';
import { get } from './helpers/net.js';
import { fixed, startUpstream } from './helpers/upstream.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

/** basicConfig with `keys` (YAML flow entries) added to the upstream `app`. */
function config(target: string, keys: string): string {
  return basicConfig([target]).replace('targets:', `${keys}, targets:`);
}

function pool(running: RunningEdge): ConnectionPool {
  const target = running.edge.runtime().upstreams.get('app')?.targets[0];
  if (target === undefined) throw new Error('no target');
  return target.pool;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

t.test('keepaliveTimeout 300ms: an idle pooled connection is closed by Gatehouse after about that, and the next request opens a new one', async (t) => {
  const closedAt: number[] = [];
  let answeredAt = 0;
  const up = await hostileUpstream(t, (socket, request) => {
    if (request.nth === 1) socket.once('close', () => closedAt.push(Date.now()));
    answeredAt = Date.now();
    socket.write(OK);
  });
  const running = await startEdge(t, config(up.address, 'keepaliveTimeout: 300ms'));
  t.equal((await get(running.port, '/')).status, 200);
  t.ok(await eventually(() => up.open === 0, 5000), `the backend saw its socket closed (${up.open} open); the backend itself never closes`);
  const idleMs = (closedAt[0] ?? 0) - answeredAt;
  // A lower bound only: load makes the close later, never earlier (the pool's clock starts after the backend wrote its answer).
  t.ok(idleMs >= 295, `not closed before keepaliveTimeout: closed ${idleMs} ms after the answer`);
  t.comment(`closed ${idleMs} ms after the answer (keepaliveTimeout 300 ms)`);
  t.equal(pool(running).idle, 0, 'nothing left in the pool');
  t.equal((await get(running.port, '/')).status, 200);
  t.equal(up.accepted, 2, 'the next request opened a new connection');
  t.equal(up.requests[1]?.connection, 2);
});

t.test('a Node backend with keepAliveTimeout 1 s: Gatehouse (keepaliveTimeout 300ms) closes each idle connection first, and POSTs spaced past 1 s all get 200', async (t) => {
  const backend = await startUpstream(t, { answer: fixed(200, 'ok') });
  backend.server.keepAliveTimeout = 1000;
  const connections: { endedByPeer: boolean }[] = [];
  backend.server.on('connection', (socket: Socket) => {
    const seen = { endedByPeer: false };
    connections.push(seen);
    // 'end' is the peer's FIN: after the server's own keep-alive timeout destroys the socket, no 'end' comes.
    socket.on('end', () => { seen.endedByPeer = true; });
  });
  const running = await startEdge(t, config(backend.address, 'keepaliveTimeout: 300ms'));
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1100);
    statuses.push((await get(running.port, '/submit', { method: 'POST', body: 'form=1', headers: { 'content-type': 'application/x-www-form-urlencoded' } })).status);
  }
  t.same(statuses, [200, 200, 200]);
  t.ok(await eventually(() => connections.length === 3 && connections.every((c) => c.endedByPeer), 5000),
    `every upstream connection was closed by Gatehouse before the backend's timeout: ${JSON.stringify(connections)}`);
});

/*
 * The race itself, made deterministic: a backend whose keep-alive timeout is 1 s and whose FIN is
 * still on its way when the next request arrives — it answers bytes on a connection idle for 1 s
 * or more with a reset, as a closed socket does. A POST is not replayed (RFC 9110 §9.2.2), so
 * losing that race is a 502 for the client.
 */
async function racingBackend(t: Parameters<typeof hostileUpstream>[0]): Promise<Awaited<ReturnType<typeof hostileUpstream>>> {
  const lastAnswer = new Map<number, number>();
  return hostileUpstream(t, (socket, request) => {
    const last = lastAnswer.get(request.connection);
    if (last !== undefined && Date.now() - last >= 1000) {
      socket.resetAndDestroy();
      return;
    }
    socket.write(OK);
    lastAnswer.set(request.connection, Date.now());
  });
}

async function spacedPosts(port: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < 3; i++) {
    if (i > 0) await sleep(1200);
    statuses.push((await get(port, '/submit', { method: 'POST', body: 'form=1' })).status);
  }
  return statuses;
}

t.test('the race: POSTs spaced just past a 1 s backend timeout get 200 when keepaliveTimeout is below it', async (t) => {
  const up = await racingBackend(t);
  const running = await startEdge(t, config(up.address, 'keepaliveTimeout: 500ms'));
  t.same(await spacedPosts(running.port), [200, 200, 200]);
  t.equal(up.accepted, 3, 'each POST went out on a fresh connection: the idle one had been closed at 500 ms');
});

t.test('the race reproduced: with the old 60 s idle timeout the same POSTs get 502', async (t) => {
  const up = await racingBackend(t);
  const running = await startEdge(t, config(up.address, 'keepaliveTimeout: 60s'));
  // The second POST reuses the first one's connection and loses the race; the third finds the pool empty.
  t.same(await spacedPosts(running.port), [200, 502, 200], 'a reused connection the backend had closed: the POST is not retried');
  t.equal(up.accepted, 2);
});

t.test('keepalive: 0 — every request opens its own upstream connection, sends Connection: close, and nothing is kept', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write(OK)); // never closes by itself
  const running = await startEdge(t, config(up.address, 'keepalive: 0'));
  for (let i = 0; i < 3; i++) t.equal((await get(running.port, '/')).status, 200);
  t.same(up.requests.map((r) => r.connection), [1, 2, 3], 'a new connection per request');
  t.ok(up.requests.every((r) => /\r\nconnection: close\r\n/i.test(r.head) && !/keep-alive/i.test(r.head)), `Connection: close upstream:\n${up.requests[0]?.head ?? ''}`);
  t.ok(await eventually(() => up.open === 0, 3000), `Gatehouse closed each connection after its answer (${up.open} open)`);
  t.equal(pool(running).idle, 0);
});

t.test('keepalive: 2 caps the idle connections at 2 after 5 concurrent requests', async (t) => {
  const waiting: Socket[] = [];
  let held = true;
  // Hold the first answers until all 5 requests are in: 5 connections at once, whatever the timing.
  const up = await hostileUpstream(t, (socket) => {
    if (!held) return void socket.write(OK);
    waiting.push(socket);
    if (waiting.length < 5) return;
    held = false;
    for (const s of waiting.splice(0)) s.write(OK);
  });
  const running = await startEdge(t, config(up.address, 'keepalive: 2'));
  const replies = await Promise.all(Array.from({ length: 5 }, () => get(running.port, '/')));
  t.same(replies.map((r) => r.status), [200, 200, 200, 200, 200]);
  t.equal(up.accepted, 5, 'five connections were open at once');
  t.equal(pool(running).idle, 2, 'two kept idle');
  t.ok(await eventually(() => up.open === 2, 3000), `the other three were closed (${up.open} open at the backend)`);
  const before = up.accepted;
  await Promise.all([get(running.port, '/'), get(running.port, '/')]);
  t.equal(up.accepted, before, 'the two kept ones carry the next two requests');
});

t.test('a reload changes keepaliveTimeout and keepalive of the live pool: the idle connection then closes, the pool is kept', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write(OK));
  const running = await startEdge(t, config(up.address, 'keepaliveTimeout: 60s'));
  const before = pool(running);
  t.equal((await get(running.port, '/')).status, 200);
  t.equal((await get(running.port, '/')).status, 200);
  t.equal(up.accepted, 1, 'one connection, reused');
  await sleep(400);
  t.equal(up.open, 1, 'still open under 60 s');
  const result = await reloadEdge(t, running, config(up.address, 'keepaliveTimeout: 300ms'));
  t.ok(result.applied);
  t.equal(pool(running), before, 'the same pool: updated, not rebuilt');
  t.ok(await eventually(() => up.open === 0, 5000), `the idle connection closed under the new 300 ms (${up.open} open)`);
  await reloadEdge(t, running, config(up.address, 'keepaliveTimeout: 60s'));
  t.equal((await get(running.port, '/')).status, 200);
  t.equal(up.open, 1, 'a new connection, kept idle under 60 s');
  await reloadEdge(t, running, config(up.address, 'keepalive: 0, keepaliveTimeout: 60s'));
  t.ok(await eventually(() => up.open === 0, 1000), 'keepalive 0 closes the idle connection at once');
  t.equal((await get(running.port, '/')).status, 200);
  t.match(up.requests.at(-1)?.head ?? '', /\r\nconnection: close\r\n/i, 'and requests now ask the upstream to close');
  t.equal(before.opened, 3, 'the counter of the kept pool went on');
});

t.test('a target two upstreams share has one pool with the smaller settings of the two', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write(OK));
  const yaml = `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { keepalive: 8, keepaliveTimeout: 300ms, targets: ["${up.address}"] }
  other: { keepalive: 2, keepaliveTimeout: 60s, targets: ["${up.address}"] }
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }, { path: /other, upstream: other }]
`;
  const running = await startEdge(t, yaml);
  t.same(pool(running).keepAlive, { max: 2, timeout: 300 });
  t.equal(running.edge.runtime().upstreams.get('other')?.targets[0]?.pool, pool(running), 'one pool');
});
