import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import WebSocket from 'ws';
import { startEdge, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { testCerts } from './helpers/certs.js';
import { connect as tlsConnect } from 'node:tls';
import { within } from './helpers/wait.js';
import { startWsBackend } from './helpers/upstream.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const HANDSHAKE = `GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nOrigin: https://localhost\r\n\r\n`;

const config = (address: string, extra = '') => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
${extra}`;

/** A raw TCP upstream (a hostile peer, not a server: its bytes are exact): `answer` decides what to write once the handshake head has arrived. */
async function handshakePeer(t: Parameters<typeof startEdge>[0], answer: (socket: Socket, state: { extra: Buffer[] }) => void): Promise<{ address: string; received: Buffer[] }> {
  const received: Buffer[] = [];
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    let head = Buffer.alloc(0);
    let answered = false;
    const state = { extra: [] as Buffer[] };
    socket.on('data', (chunk: Buffer) => {
      received.push(chunk);
      if (answered) {
        state.extra.push(chunk);
        return;
      }
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) return;
      answered = true;
      if (head.length > end + 4) state.extra.push(head.subarray(end + 4));
      answer(socket, state);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { address: `127.0.0.1:${(server.address() as AddressInfo).port}`, received };
}

t.test('an upstream 101 without a valid Sec-WebSocket-Accept → 502, no tunnel', async (t) => {
  const up = await handshakePeer(t, (s) => s.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\nGET /internal HTTP/1.1\r\n\r\n'));
  const { port, logs } = await startEdge(t, config(up.address));
  const reply = parseRaw(await rawTls(port, HANDSHAKE));
  t.equal(reply.status, 502);
  t.match(await logs.next((l) => l.code !== undefined), { code: 'EDGE_ERR_UPSTREAM_HANDSHAKE' }, 'a bad handshake, not an unreachable upstream');
  t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  t.notMatch(reply.body, /internal/, 'nothing the upstream sent after its bad 101 reached the client');
});

t.test('a non-101 answer is relayed with HSTS and the connection closed', async (t) => {
  const up = await handshakePeer(t, (s) => s.end('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nStrict-Transport-Security: max-age=0\r\nContent-Length: 4\r\n\r\nnope'));
  const { port } = await startEdge(t, config(up.address));
  const reply = parseRaw(await rawTls(port, HANDSHAKE));
  t.equal(reply.status, 426);
  t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], 'the upstream\'s max-age=0 is replaced');
  t.strictSame(reply.headers.get('connection'), ['close']);
  t.equal(reply.body, 'nope');
});

t.test('upstream header bytes outside ASCII reach the client unchanged, on a 101 and on a refusal', async (t) => {
  const cookie = Buffer.from('name=José', 'utf8').toString('latin1'); // as it travels: one char per byte
  const ok = await handshakePeer(t, (s) => s.write(Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nSet-Cookie: ${cookie}\r\n\r\n`, 'latin1')));
  const { port } = await startEdge(t, config(ok.address));
  const opened = await rawTls(port, HANDSHAKE, { waitMs: 500 });
  t.match(opened, /^HTTP\/1\.1 101 /);
  t.ok(opened.includes(`Set-Cookie: ${cookie}\r\n`), '101: cookie bytes as the upstream sent them');

  const refused = await handshakePeer(t, (s) => s.end(Buffer.from(`HTTP/1.1 403 Forbidden\r\nX-Reason: ${cookie}\r\nContent-Length: 0\r\n\r\n`, 'latin1')));
  const edge = await startEdge(t, config(refused.address));
  const reply = await rawTls(edge.port, HANDSHAKE);
  t.match(reply, /^HTTP\/1\.1 403 /);
  t.ok(reply.includes(`X-Reason: ${cookie}\r\n`), 'refusal: header bytes as the upstream sent them');
});

t.test('client bytes pipelined after the handshake are held until the upstream\'s 101 is verified', async (t) => {
  let sawEarly = -1;
  const up = await handshakePeer(t, (s, state) => {
    setTimeout(() => {
      sawEarly = state.extra.reduce((n, b) => n + b.length, 0);
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`);
    }, 200);
  });
  const { port } = await startEdge(t, config(up.address));
  // A masked text frame "hi" sent in the same write as the handshake.
  const frame = Buffer.from([0x81, 0x82, 1, 2, 3, 4, 'h'.charCodeAt(0) ^ 1, 'i'.charCodeAt(0) ^ 2]);
  const text = await rawTls(port, Buffer.concat([Buffer.from(HANDSHAKE), frame]), { waitMs: 800 });
  t.match(text, /^HTTP\/1\.1 101 /);
  t.equal(sawEarly, 0, 'the upstream saw no frame bytes before it answered 101');
  const all = Buffer.concat(up.received);
  t.ok(all.subarray(all.length - frame.length).equals(frame), 'the frame arrived after the 101, byte for byte');
});

t.test('subprotocols and extensions pass through; frames are piped both ways', async (t) => {
  const backend = await startWsBackend(t, 'sub', { perMessageDeflate: true, handleProtocols: (protocols) => (protocols.has('chat.v2') ? 'chat.v2' : false) });
  const { port } = await startEdge(t, config(backend.address));
  const ws = await openWs(port, '/', { origin: 'https://localhost', protocols: ['chat.v1', 'chat.v2'] });
  t.equal(ws.protocol, 'chat.v2');
  t.match(ws.extensions, /permessage-deflate/);
  t.equal(await roundTrip(ws, 'x'.repeat(100_000)), `sub:${'x'.repeat(100_000)}`, 'a large compressed message round-trips');
  ws.terminate();
});

t.test('when the upstream closes, the client is closed too; idle tunnels close after websocketIdle', async (t) => {
  const backend = await startWsBackend(t, 'b');
  const running = await startEdge(t, config(backend.address, 'timeouts: { websocketIdle: 400ms }'));
  const ws = await openWs(running.port, '/', { origin: 'https://localhost' });
  await roundTrip(ws, 'x');
  for (const c of backend.wss?.clients ?? []) c.terminate();
  await within(5000, once(ws, 'close'), 'the client closing after the upstream went away');
  t.pass('client closed when the upstream went away');
  const idle = await openWs(running.port, '/', { origin: 'https://localhost' });
  const [code] = await within(5000, once(idle, 'close'), 'the idle tunnel closing (websocketIdle 400ms)') as [number];
  t.ok(code === 1006 || code === 1005 || code === 1000, `idle tunnel closed (${code})`);
  await new Promise((r) => setTimeout(r, 50));
  t.equal(running.edge.tunnels.size, 0, 'no tunnel left registered');
});

t.test('websocketIdle 0 never closes an idle tunnel, and one past Node\'s timer limit (30d) is held to 24d, not fired at once', async (t) => {
  const backend = await startWsBackend(t, 'w');
  for (const idle of ['0', '30d']) {
    const running = await startEdge(t, config(backend.address, `timeouts: { websocketIdle: ${idle} }`));
    const ws = await openWs(running.port, '/', { origin: 'https://localhost' });
    await new Promise((r) => setTimeout(r, 300));
    t.equal(ws.readyState, ws.OPEN, `websocketIdle: ${idle}: still open after an idle pause`);
    t.equal(await roundTrip(ws, 'still there'), 'w:still there');
    ws.terminate();
  }
});

t.test('shutdown: open tunnels get timeouts.drain, then a 1001 close frame', async (t) => {
  const backend = await startWsBackend(t, 'd');
  const running = await startEdge(t, config(backend.address, 'timeouts: { drain: 300ms }'));
  const ws = await openWs(running.port, '/', { origin: 'https://localhost' });
  await roundTrip(ws, 'before');
  const closed = once(ws, 'close') as Promise<[number]>;
  const started = Date.now();
  await running.edge.close();
  const [code] = await closed;
  t.equal(code, 1001, 'going away');
  t.ok(Date.now() - started >= 250, 'the tunnel was given the drain time first');
  await t.rejects(openWs(running.port, '/', { origin: 'https://localhost' }), 'no new upgrades after shutdown');
});

t.test('new upgrades during drain are refused with 503 while old tunnels still work', async (t) => {
  const backend = await startWsBackend(t, 'e');
  const running = await startEdge(t, config(backend.address, 'timeouts: { drain: 2s }'));
  const ws = await openWs(running.port, '/', { origin: 'https://localhost' });
  // A second TLS connection opened before the drain, upgrading after it began.
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port: running.port, servername: 'localhost', ca: certs.caPem });
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
  socket.on('error', () => undefined);
  // The head's first line before the drain: the connection is busy, not idle, so the drain
  // start (which closes idle connections) leaves it, and the rest of the head is answered.
  const cut = HANDSHAKE.indexOf('\r\n') + 2;
  socket.write(HANDSHAKE.slice(0, cut));
  await new Promise((r) => setTimeout(r, 50));
  const closing = running.edge.close();
  await new Promise((r) => setTimeout(r, 50));
  socket.write(HANDSHAKE.slice(cut));
  const answer = await within(5000, Promise.race([
    once(socket, 'data').then(([d]) => (d as Buffer).toString()),
    once(socket, 'close').then(() => 'closed'),
  ]), 'an answer to the upgrade sent during the drain');
  t.match(answer, /^HTTP\/1\.1 503 /, 'refused with 503, never a 101');
  const refused = await running.logs.next((l) => l.event === 'websocket-refused');
  t.equal(refused?.code, 'EDGE_ERR_SHUTTING_DOWN', 'logged with its code');
  t.equal(await roundTrip(ws, 'still'), 'e:still', 'the open tunnel keeps working during the drain');
  ws.close();
  socket.destroy();
  await closing;
});

t.test('a WebSocket client disconnecting mid-handshake leaves nothing behind', async (t) => {
  const up = await handshakePeer(t, () => undefined); // never answers
  const running = await startEdge(t, config(up.address));
  const certs = await testCerts();
  const ws = new WebSocket(`wss://localhost:${running.port}/`, { ca: certs.caPem, origin: 'https://localhost', handshakeTimeout: 200 });
  ws.on('error', () => undefined);
  await within(5_000, new Promise((resolve) => ws.on('close', resolve)), 'ws to close');
  await new Promise((r) => setTimeout(r, 100));
  t.equal(running.edge.tunnels.size, 0);
});
