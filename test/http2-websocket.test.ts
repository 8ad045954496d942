import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { ClientHttp2Session, ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { h2Session } from './helpers/h2.js';
import { rawUpstream } from './helpers/net.js';
import { clientText, serverFrames } from './helpers/ws-frames.js';
import { startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const config = (address: string, extra = ''): string => basicConfig([address], extra);

interface Opened {
  readonly stream: ClientHttp2Stream;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
}

/** RFC 8441 §4: an extended CONNECT on `session`, resolved with the response head. */
async function extendedConnect(session: ClientHttp2Session, path: string, origin?: string): Promise<Opened> {
  const stream = session.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, ':scheme': 'https', ':authority': 'localhost',
    'sec-websocket-version': '13', ...(origin === undefined ? {} : { origin }),
  }, { endStream: false });
  stream.on('error', () => undefined);
  const [headers] = (await within(5_000, once(stream, 'response'), 'the response head on stream')) as [IncomingHttpHeaders];
  return { stream, status: Number(headers[':status']), headers };
}

async function nextFrames(stream: ClientHttp2Stream): Promise<[number, Buffer][]> {
  const [chunk] = (await within(5_000, once(stream, 'data'), 'data on stream')) as [Buffer];
  return serverFrames(chunk);
}

t.test('RFC 8441: SETTINGS_ENABLE_CONNECT_PROTOCOL advertised; a WebSocket over an h2 stream reaches a ws upstream as an HTTP/1.1 upgrade', async (t) => {
  const backend = await startWsBackend(t, 'b1');
  const { port, logs } = await startEdge(t, config(backend.address));
  const session = await h2Session(t, port);
  if (session.remoteSettings.enableConnectProtocol !== true) await within(5_000, once(session, 'remoteSettings'), 'SETTINGS from the edge on session');
  t.equal(session.remoteSettings.enableConnectProtocol, true);
  const ws = await extendedConnect(session, '/chat?room=1', 'https://localhost');
  t.equal(ws.status, 200);
  t.equal(ws.headers['strict-transport-security'], HSTS);
  t.equal(ws.headers['sec-websocket-accept'], undefined, 'no HTTP/1.1 handshake field on h2');
  ws.stream.write(clientText('hello'));
  const frames = await nextFrames(ws.stream);
  t.equal(frames[0]?.[1].toString(), 'b1:hello');
  const up = backend.upgrades[0];
  t.equal(up?.url, '/chat?room=1');
  t.equal(up?.headers.host, 'localhost');
  t.equal(up?.headers['x-forwarded-for'], '127.0.0.1');
  t.match(String(up?.headers['sec-websocket-key']), /^[A-Za-z0-9+/]{22}==$/, 'Gatehouse made the key');
  t.ok(await logs.next((l) => l.event === 'websocket-open' && l.protocol === 'h2'));
  ws.stream.close();
  t.ok(await logs.next((l) => l.event === 'websocket-close' && l.protocol === 'h2'));
});

t.test('over h2 the Origin gate holds: 403 with HSTS, no upstream contact; a plain CONNECT is refused', async (t) => {
  const backend = await startWsBackend(t);
  const { port, logs } = await startEdge(t, config(backend.address));
  const session = await h2Session(t, port);
  for (const origin of ['https://evil.test', undefined, 'null']) {
    const refused = await extendedConnect(session, '/chat', origin);
    t.equal(refused.status, 403, `origin ${origin ?? 'missing'}`);
    t.equal(refused.headers['strict-transport-security'], HSTS);
  }
  const plain = session.request({ ':method': 'CONNECT', ':authority': 'internal.example:22' }, { endStream: false });
  plain.on('error', () => undefined);
  const [head] = (await within(5_000, once(plain, 'response'), 'the response head on plain')) as [IncomingHttpHeaders];
  t.equal(head[':status'], 405);
  t.equal(head['strict-transport-security'], HSTS);
  t.equal(backend.connections, 0, 'the upstream never saw a connection');
  t.ok(await logs.next((l) => l.event === 'websocket-refused' && l.protocol === 'h2' && l.status === 403));
});

t.test('over h2 the upstream\'s 101 is checked: a wrong Sec-WebSocket-Accept is a 502; a refusal is relayed', async (t) => {
  const bad = await rawUpstream(t, (socket) => {
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: bm90IHRoZSByaWdodCBvbmU=\r\n\r\n');
  });
  const badEdge = await startEdge(t, config(bad.address));
  const r1 = await extendedConnect(await h2Session(t, badEdge.port), '/chat', 'https://localhost');
  t.equal(r1.status, 502);
  t.equal(r1.headers['strict-transport-security'], HSTS);
  const refusing = await rawUpstream(t, (socket) => {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 4\r\nWWW-Authenticate: Bearer\r\nConnection: close\r\n\r\nnope');
  });
  const refusingEdge = await startEdge(t, config(refusing.address));
  const r2 = await extendedConnect(await h2Session(t, refusingEdge.port), '/chat', 'https://localhost');
  t.equal(r2.status, 401);
  t.equal(r2.headers['www-authenticate'], 'Bearer');
  t.equal(r2.headers['strict-transport-security'], HSTS);
  t.equal(r2.headers.connection, undefined);
});

t.test('the key Gatehouse made is the one whose Accept it checks: a correct 101 from a raw upstream opens the tunnel', async (t) => {
  const upstream = await rawUpstream(t, (socket, data) => {
    const key = /sec-websocket-key: (\S+)/i.exec(data)?.[1];
    if (key === undefined) return;
    const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: chat\r\n\r\n`);
    socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
  });
  const { port } = await startEdge(t, config(upstream.address));
  const ws = await extendedConnect(await h2Session(t, port), '/chat', 'https://localhost');
  t.equal(ws.status, 200);
  t.equal(ws.headers['sec-websocket-protocol'], 'chat', 'subprotocol passes through');
  t.equal((await nextFrames(ws.stream))[0]?.[1].toString(), 'hi');
});

t.test('http2.websocket: false does not advertise extended CONNECT', async (t) => {
  const backend = await startWsBackend(t);
  const { port } = await startEdge(t, config(backend.address, 'http2: { websocket: false }'));
  const session = await h2Session(t, port);
  await new Promise((r) => setTimeout(r, 100));
  t.not(session.remoteSettings.enableConnectProtocol, true);
});

t.test('an idle h2 WebSocket closes after websocketIdle', async (t) => {
  const backend = await startWsBackend(t, 'b1');
  const { port } = await startEdge(t, config(backend.address, 'timeouts: { websocketIdle: 300ms }'));
  const idle = await extendedConnect(await h2Session(t, port), '/idle', 'https://localhost');
  await within(5000, once(idle.stream, 'close'), 'the idle h2 WebSocket closing (websocketIdle 300ms)');
  t.pass('closed');
});

t.test('shutdown: an h2 WebSocket gets a 1001 close frame within timeouts.drain', async (t) => {
  const backend = await startWsBackend(t, 'b1');
  const { port, edge } = await startEdge(t, config(backend.address, 'timeouts: { drain: 300ms }'));
  const session = await h2Session(t, port);
  const ws = await extendedConnect(session, '/chat', 'https://localhost');
  ws.stream.write(clientText('x'));
  await nextFrames(ws.stream);
  const chunks: Buffer[] = [];
  ws.stream.on('data', (c: Buffer) => chunks.push(c));
  const goaway = once(session, 'goaway');
  await edge.close();
  await within(5000, goaway, 'GOAWAY on shutdown');
  t.pass('GOAWAY sent');
  await new Promise((r) => setTimeout(r, 100));
  const frames = serverFrames(Buffer.concat(chunks));
  t.equal(frames[0]?.[0], 8, 'a close frame');
  t.equal(frames[0]?.[1].readUInt16BE(0), 1001);
});
