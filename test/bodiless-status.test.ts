// Issue 19, item 5: framing headers follow the status (RFC 9110 §8.6). A 204 or a 1xx reaches
// the client without Content-Length on h1 and h2 (a client trusting it would read the next
// response as this one's body); a 304 and a HEAD answer keep the length a GET would have had.
import { createHash } from 'node:crypto';
import { connect } from 'node:http2';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { parseRaw, rawTls, rawUpstream } from './helpers/net.js';
import { within } from './helpers/wait.js';

const ACCEPT_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** Answers by path: /204 and /304 with a Content-Length they may not (204) or may (304) carry; anything else 200 with 42 bytes. */
async function statusUpstream(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const up = await rawUpstream(t, (socket, data) => {
    for (const head of data.split('\r\n\r\n').filter((h) => h !== '')) {
      const [method = '', path = ''] = head.split(' ');
      const key = /sec-websocket-key: (\S+)/i.exec(head)?.[1];
      if (key !== undefined) {
        const accept = createHash('sha1').update(key + ACCEPT_GUID).digest('base64');
        socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nContent-Length: 7\r\n\r\n`);
      } else if (path === '/204') {
        socket.write('HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-Kind: empty\r\n\r\n');
      } else if (path === '/304') {
        socket.write('HTTP/1.1 304 Not Modified\r\nContent-Length: 42\r\nETag: "v1"\r\n\r\n');
      } else {
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 42\r\n\r\n${method === 'HEAD' ? '' : 'x'.repeat(42)}`);
      }
    }
  });
  return up.address;
}

const req = (method: string, path: string): string => `${method} ${path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`;

t.test('HTTP/1.1: a 204 loses its Content-Length; 304 and HEAD keep theirs', async (t) => {
  const { port } = await startEdge(t, basicConfig([await statusUpstream(t)]));
  const noContent = parseRaw(await rawTls(port, req('GET', '/204')));
  t.equal(noContent.status, 204);
  t.equal(noContent.headers.get('content-length'), undefined, 'no Content-Length on a 204');
  t.equal(noContent.headers.get('transfer-encoding'), undefined, 'no Transfer-Encoding on a 204');
  t.strictSame(noContent.headers.get('x-kind'), ['empty'], 'other headers pass');
  const notModified = parseRaw(await rawTls(port, req('GET', '/304')));
  t.equal(notModified.status, 304);
  t.strictSame(notModified.headers.get('content-length'), ['42'], 'a 304 keeps the length (RFC 9110 §8.6)');
  const head = parseRaw(await rawTls(port, req('HEAD', '/')));
  t.equal(head.status, 200);
  t.strictSame(head.headers.get('content-length'), ['42'], 'a HEAD answer keeps the length');
  t.equal(head.body, '');
});

t.test('HTTP/1.1: a 101 reaches the client without the upstream\'s Content-Length', async (t) => {
  const { port } = await startEdge(t, basicConfig([await statusUpstream(t)]));
  const reply = await rawTls(port, 'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: https://localhost\r\n\r\n', { waitMs: 500 });
  const parsed = parseRaw(reply);
  t.equal(parsed.status, 101);
  t.equal(parsed.headers.get('content-length'), undefined);
});

t.test('h2: a 204 loses its Content-Length; the 200 to an extended CONNECT has none; a 304 keeps it', async (t) => {
  const { port } = await startEdge(t, basicConfig([await statusUpstream(t)]));
  const session = await h2Session(t, port);
  const noContent = await h2Request(session, { ':path': '/204' });
  t.equal(noContent.status, 204);
  t.equal(noContent.headers['content-length'], undefined);
  t.equal(noContent.headers['x-kind'], 'empty');
  const notModified = await h2Request(session, { ':path': '/304' });
  t.equal(notModified.status, 304);
  t.equal(notModified.headers['content-length'], '42');

  const certs = await testCerts();
  const ws = connect(`https://127.0.0.1:${port}`, { ca: certs.caPem, servername: 'localhost' });
  t.teardown(() => ws.destroy());
  ws.on('error', () => undefined);
  await within(5_000, new Promise<void>((resolve) => ws.once('remoteSettings', () => resolve())), 'SETTINGS from the edge on ws');
  const stream = ws.request({
    ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/ws', ':scheme': 'https', ':authority': 'localhost',
    'sec-websocket-version': '13', origin: 'https://localhost',
  }, { endStream: false });
  stream.on('error', () => undefined);
  const head = await within(5_000, new Promise<Record<string, unknown>>((resolve) => stream.once('response', resolve)), 'the response head to an extended CONNECT');
  t.equal(head[':status'], 200);
  t.equal(head['content-length'], undefined, 'RFC 9110 §8.6: no Content-Length in a 2xx to CONNECT');
  stream.destroy();
});
