import { connect as netConnect } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import t from 'tap';
import { basicConfig, startEdge, twoCertConfig } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { testCerts } from './helpers/certs.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

interface Handshake { protocol: string | null; alpn: string | false | null; serial: string }

async function handshake(port: number, options: { servername?: string; maxVersion?: 'TLSv1.2' | 'TLSv1.3' } = {}): Promise<Handshake> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = tlsConnect({
      host: '127.0.0.1', port, ca: certs.caPem, ALPNProtocols: ['h2', 'http/1.1'],
      // Verify the chain but not the name: these tests look at *which* certificate came back.
      checkServerIdentity: () => undefined,
      ...(options.servername === undefined ? {} : { servername: options.servername }),
      ...(options.maxVersion === undefined ? {} : { maxVersion: options.maxVersion }),
    }, () => {
      const result = { protocol: socket.getProtocol(), alpn: socket.alpnProtocol, serial: new X509Certificate(socket.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).serialNumber };
      socket.end();
      resolve(result);
    });
    socket.on('error', reject);
  });
}

const twoCerts = (extra = ''): string => twoCertConfig([['localhost', 'app.test', '*.wild.test'], ['other.test']], '127.0.0.1:9', extra);

t.test('TLS 1.3 only by default; TLS 1.2 clients are refused at the handshake', async (t) => {
  const { port } = await startEdge(t, twoCerts());
  const ok = await handshake(port, { servername: 'localhost' });
  t.equal(ok.protocol, 'TLSv1.3');
  t.equal(ok.alpn, 'h2', 'ALPN offers h2 first (DESIGN 1, 16)');
  await t.rejects(handshake(port, { servername: 'localhost', maxVersion: 'TLSv1.2' }), /protocol version|unsupported protocol|alert/i);
});

t.test('minVersion TLSv1.2 admits TLS 1.2 (with a warning at check time)', async (t) => {
  const { port } = await startEdge(t, twoCerts().replace('tls:\n', 'tls:\n  minVersion: TLSv1.2\n'));
  t.equal((await handshake(port, { servername: 'localhost', maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
});

t.test('SNI picks the certificate by SAN; unknown or absent SNI gets the first', async (t) => {
  const certs = await testCerts();
  const { port } = await startEdge(t, twoCerts());
  t.equal((await handshake(port, { servername: 'other.test' })).serial, certs.b.serial);
  t.equal((await handshake(port, { servername: 'app.test' })).serial, certs.a.serial);
  t.equal((await handshake(port, { servername: 'deep.wild.test' })).serial, certs.a.serial, 'wildcard SAN');
  t.equal((await handshake(port, { servername: 'OTHER.TEST' })).serial, certs.b.serial, 'case-insensitive');
  t.equal((await handshake(port, { servername: 'nobody.example' })).serial, certs.a.serial, 'unknown SNI → default');
  t.equal((await handshake(port)).serial, certs.a.serial, 'no SNI (IP literal) → default');
});

t.test('a silent client is cut after timeouts.handshake', async (t) => {
  const { port } = await startEdge(t, twoCerts('timeouts: { handshake: 300ms }'));
  const socket = netConnect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve('closed')));
  const guard = new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 10_000).unref());
  t.equal(await Promise.race([closed, guard]), 'closed');
});

t.test('plaintext HTTP and junk on the TLS port are closed; the edge keeps serving', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  for (const junk of ['GET / HTTP/1.1\r\nHost: localhost\r\n\r\n', Buffer.from([0x16, 0x03, 0x01, 0xff, 0xff, 0, 0, 0]), '\x00'.repeat(5000)]) {
    const socket = netConnect(port, '127.0.0.1', () => socket.write(junk));
    socket.on('error', () => undefined);
    socket.resume();
    await within(5_000, new Promise((resolve) => socket.on('close', resolve)), 'socket to close');
  }
  const reply = await get(port, '/');
  t.equal(reply.status, 200);
});
