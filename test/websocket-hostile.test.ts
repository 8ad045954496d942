// WebSocket handshakes against a hostile upstream, over the one attempt path: refusals relayed
// under the response timeouts and dropped when the client leaves, no 502 spliced into a body,
// and only a checked 101 opens a tunnel (issue 10 items 3, 5 and 6).
import { createHash } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { eventually, hostileUpstream } from './helpers/hostile.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { within } from './helpers/wait.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const ACCEPT = createHash('sha1').update(`${KEY}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
const HANDSHAKE = `GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\nOrigin: https://localhost\r\n\r\n`;

/** Open a raw TLS connection, write the handshake, resolve once `want` bytes came back (or it closed). */
async function handshake(port: number, want = 1): Promise<{ socket: ReturnType<typeof tlsConnect>; text: () => string }> {
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['http/1.1'] });
  socket.on('error', () => undefined);
  let text = '';
  socket.on('data', (d: Buffer) => { text += d.toString('latin1'); });
  await within(5_000, new Promise((resolve) => socket.once('secureConnect', resolve)), 'the TLS handshake of socket');
  socket.write(HANDSHAKE);
  await eventually(() => text.length >= want || socket.destroyed, 3000);
  return { socket, text: () => text };
}

t.test('an upgrade refusal that stalls mid-body: 20 clients leaving leave no upstream socket open', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome of it'));
  const { port } = await startEdge(t, basicConfig([up.address]));
  const clients = await Promise.all(Array.from({ length: 20 }, () => handshake(port, 20)));
  t.ok(clients.every((c) => c.text().startsWith('HTTP/1.1 200 ')), 'every client got the refusal head');
  t.ok(await eventually(() => up.open === 20, 2000), 'the upstream holds 20 sockets while the clients wait');
  for (const c of clients) c.socket.destroy();
  t.ok(await eventually(() => up.open === 0, 3000), `the upstream sockets were closed with their clients (${up.open} left)`);
});

t.test('an upgrade refusal is relayed under timeouts.response: a stalled one is cut, not held forever', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nsome of it'));
  const { port } = await startEdge(t, basicConfig([up.address], 'timeouts: { response: 300ms }'));
  const { socket, text } = await handshake(port, 20);
  t.ok(await eventually(() => socket.destroyed || socket.readableEnded, 3000), 'the client connection was closed');
  t.match(text(), /^HTTP\/1\.1 200 /);
  t.notMatch(text(), /HTTP\/1\.1 50/, 'no error answer written into the body');
  t.ok(await eventually(() => up.open === 0, 2000), 'and the upstream socket too');
});

t.test('an upstream reset after part of a refusal went out only closes the connection; the failure counts once', async (t) => {
  let n = 0;
  const up = await hostileUpstream(t, (socket, request) => {
    if (request.head.toLowerCase().includes('upgrade: websocket') && ++n === 1) {
      socket.write('HTTP/1.1 403 Forbidden\r\nContent-Length: 100\r\n\r\npart of a body', () => setTimeout(() => socket.resetAndDestroy(), 50));
    } else {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    }
  });
  // maxFails 2: counted twice, this one reset would take the only target down.
  const { port } = await startEdge(t, basicConfig([up.address]).replace('targets:', 'maxFails: 2, targets:'));
  const raw = await rawTls(port, HANDSHAKE);
  t.match(raw, /^HTTP\/1\.1 403 /);
  t.ok(raw.includes('part of a body'));
  t.notMatch(raw, /502|Bad Gateway/, 'no 502 injected after the bytes already sent');
  t.equal((await get(port, '/')).status, 200, 'the target is still up: one failure, not two');
});

t.test('an upstream\'s ordinary 404 to an upgrade is relayed and logged as declined, not as an upstream protocol failure', async (t) => {
  const up = await hostileUpstream(t, (socket) => socket.write('HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\nno socket'));
  const { port, logs } = await startEdge(t, basicConfig([up.address]));
  const reply = parseRaw(await rawTls(port, HANDSHAKE));
  t.equal(reply.status, 404, 'the upstream\'s answer, relayed');
  t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
  const declined = await logs.next((l) => l.event === 'websocket-declined');
  t.equal(declined?.status, 404, 'logged as declined, with its status');
  t.notOk(logs.find((l) => l.code === 'EDGE_ERR_UPSTREAM_PROTOCOL'), 'no EDGE_ERR_UPSTREAM_PROTOCOL: nothing was wrong with the answer');
  t.notOk(logs.find((l) => l.level === 40), 'and no warning');
});

const BAD_101: Array<[string, string]> = [
  ['without Connection: Upgrade', `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`],
  ['without Upgrade: websocket', `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n`],
  ['with a wrong Accept and no Connection: Upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n'],
  ['with two Accept headers', `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nSec-WebSocket-Accept: x\r\n\r\n`],
];

for (const [name, answer] of BAD_101) {
  t.test(`an upstream 101 ${name} → 502 with HSTS, no tunnel`, async (t) => {
    const up = await hostileUpstream(t, (socket) => socket.write(`${answer}GET /internal HTTP/1.1\r\n\r\n`));
    const { port, edge, logs } = await startEdge(t, basicConfig([up.address]));
    const reply = parseRaw(await rawTls(port, HANDSHAKE));
    t.equal(reply.status, 502);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
    t.notMatch(reply.body, /internal/);
    t.equal(edge.tunnels.size, 0);
    t.ok(await logs.next((l) => l.code === 'EDGE_ERR_UPSTREAM_HANDSHAKE'), 'logged with its code');
  });
}

t.test('a checked 101 opens the tunnel: bytes after it flow both ways', async (t) => {
  const up = await hostileUpstream(t, (socket) => {
    socket.write(Buffer.from(`HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Accept: ${ACCEPT}\r\n\r\n\x81\x02hi`, 'latin1'));
  });
  const { port } = await startEdge(t, basicConfig([up.address]));
  const raw = await rawTls(port, HANDSHAKE, { waitMs: 500 });
  t.match(raw, /^HTTP\/1\.1 101 /);
  t.ok(raw.endsWith('\r\n\r\n\x81\x02hi'), 'the frame that came with the 101 reached the client');
});
