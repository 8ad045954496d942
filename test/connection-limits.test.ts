import { once } from 'node:events';
import { connect as netConnect } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { startEdge, type RunningEdge } from './helpers/edge.js';
import { prefixedSocket, v1 } from './helpers/proxy.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

type Tap = Parameters<typeof startBackend>[0];

function config(backend: string, limits: string, proxyPeers = ''): string {
  return `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0", proxyProtocol: [${proxyPeers}] }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }]
limits: { ${limits} }
`;
}

/** A finished TLS handshake (so the edge has surely counted the connection); destroyed at teardown. */
async function held(t: Tap, port: number, options: { localAddress?: string; header?: Buffer } = {}): Promise<TLSSocket> {
  const certs = await testCerts();
  const tcp: Duplex = options.header === undefined
    ? netConnect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) })
    : prefixedSocket(port, options.header).stream;
  const socket = tlsConnect({ socket: tcp, servername: 'localhost', ca: certs.caPem });
  t.teardown(() => socket.destroy());
  await within(5000, once(socket, 'secureConnect'), `a TLS handshake on :${port}`);
  return socket;
}

/** What a connection the edge refuses at accept sees: a close, and not one byte (no ServerHello). */
async function refused(port: number, options: { localAddress?: string; header?: Buffer } = {}): Promise<{ bytes: number }> {
  const socket = netConnect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
  socket.on('error', () => undefined);
  let bytes = 0;
  socket.on('data', (d: Buffer) => { bytes += d.length; });
  // A ClientHello-sized write: a server doing TLS work would answer it.
  socket.once('connect', () => socket.write(Buffer.concat([options.header ?? Buffer.alloc(0), Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])])));
  const timer = setTimeout(() => socket.destroy(new Error('still open after 5 s')), 5000);
  await within(5_000, once(socket, 'close'), 'socket to close');
  clearTimeout(timer);
  if (socket.errored?.message === 'still open after 5 s') throw new Error('the connection was not refused');
  return { bytes };
}

async function refusedCount(edge: RunningEdge, reason: string): Promise<number> {
  const metric = await edge.edge.metrics.registry.getSingleMetric('gatehouse_connections_refused_total')?.get();
  return metric?.values.find((v) => v.labels.reason === reason)?.value ?? 0;
}

t.test('limits.connections: past the cap a connection is closed at accept, counted and logged; closing one makes room', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, 'connections: 2'));
  const { port } = running;
  const first = await held(t, port);
  await held(t, port);
  t.same(await refused(port), { bytes: 0 }, 'third connection: closed before any TLS byte');
  t.equal(await refusedCount(running, 'limit'), 1);
  t.match(await running.logs.next((l) => l.event === 'connection-refused'), { reason: 'limit', listener: 'https', clientIp: '127.0.0.1' });
  first.destroy();
  await running.logs.next(() => false, 200);
  await held(t, port);
  t.pass('a new connection is served once one closed');
});

t.test('limits.connections counts :80 and :443 together (per process)', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, 'connections: 1'));
  await held(t, running.port);
  t.same(await refused(running.addresses.http?.port ?? 0), { bytes: 0 }, 'the redirect listener is over the same cap');
  t.equal(await refusedCount(running, 'limit'), 1);
});

t.test('limits.connectionsPerIp: one address over its cap is refused, others are served', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, 'connectionsPerIp: 2'));
  await held(t, running.port, { localAddress: '127.0.0.2' });
  await held(t, running.port, { localAddress: '127.0.0.2' });
  t.same(await refused(running.port, { localAddress: '127.0.0.2' }), { bytes: 0 });
  await held(t, running.port, { localAddress: '127.0.0.3' });
  t.equal(await refusedCount(running, 'per_ip'), 1);
  t.equal(await refusedCount(running, 'limit'), 0);
  t.match(await running.logs.next((l) => l.event === 'connection-refused'), { reason: 'per_ip', clientIp: '127.0.0.2' });
});

t.test('a closed connection gives back its address\'s room and its place in the total; a refused one keeps neither; the open-connections gauge follows', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, 'connections: 2, connectionsPerIp: 1'));
  const open = async (): Promise<number> => (await running.edge.metrics.registry.getSingleMetric('gatehouse_open_connections')?.get())?.values[0]?.value ?? -1;
  const first = await held(t, running.port, { localAddress: '127.0.0.4' });
  t.same(await refused(running.port, { localAddress: '127.0.0.4' }), { bytes: 0 }, 'a second connection from the same address is refused');
  // Had the refused one kept its place in the total (cap 2), this would be refused too.
  await held(t, running.port, { localAddress: '127.0.0.5' });
  t.equal(await open(), 2, 'two connections open');
  first.destroy();
  await running.logs.next(() => false, 200);
  t.equal(await open(), 1, 'the gauge counts the close');
  await held(t, running.port, { localAddress: '127.0.0.4' });
  t.pass('the address that closed its connection is served again');
  t.equal(await open(), 2);
  t.equal(await refusedCount(running, 'per_ip'), 1);
  t.equal(await refusedCount(running, 'limit'), 0);
});

t.test('behind a balancer the per-IP cap counts PROXY sources, right after the header', async (t) => {
  const backend = await startBackend(t);
  const running = await startEdge(t, config(backend.address, 'connectionsPerIp: 1', '127.0.0.1/32'));
  await held(t, running.port, { header: v1('TCP4', '203.0.113.5', '127.0.0.1', 1, 443) });
  t.same(await refused(running.port, { header: v1('TCP4', '203.0.113.5', '127.0.0.1', 2, 443) }), { bytes: 0 }, 'the same source again');
  await held(t, running.port, { header: v1('TCP4', '203.0.113.6', '127.0.0.1', 3, 443) });
  t.pass('another source through the same balancer is served');
  t.equal(await refusedCount(running, 'per_ip'), 1);
  t.match(await running.logs.next((l) => l.event === 'connection-refused'), { reason: 'per_ip', clientIp: '203.0.113.5' });
});
