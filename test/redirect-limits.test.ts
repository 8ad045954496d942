// The :80 listener holds the same head timeout, head size and idle limits as :443 (issue 19
// item 4, DESIGN 13): Node's defaults (60 s, 16 KB, 5 s) applied there before.
import { connect, type Socket } from 'node:net';
import t from 'tap';
import { startEdge } from './helpers/edge.js';

const config = (extra: string): string => `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["127.0.0.1:9"] } }
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }]
${extra}
`;

interface Plain {
  readonly socket: Socket;
  /** Everything read so far. */
  text(): string;
  /** Resolves once the edge closed the connection; rejects after `ms` (the time it took otherwise). */
  closed(ms: number): Promise<number>;
}

async function plain(t: { teardown(fn: () => unknown): void }, port: number): Promise<Plain> {
  const socket = connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  t.teardown(() => socket.destroy());
  let text = '';
  let closed = false;
  socket.setEncoding('latin1');
  socket.on('data', (c: string) => { text += c; });
  socket.on('close', () => { closed = true; });
  await new Promise<void>((resolve, reject) => { socket.once('connect', () => resolve()); socket.once('error', reject); });
  return {
    socket,
    text: () => text,
    async closed(ms) {
      const start = Date.now();
      while (!closed && Date.now() - start < ms) await new Promise((r) => setTimeout(r, 20));
      if (!closed) throw new Error(`still open after ${ms} ms; read: ${JSON.stringify(text.slice(0, 200))}`);
      return Date.now() - start;
    },
  };
}

t.test(':80 closes a slow head at timeouts.headers with 408 and EDGE_ERR_REQUEST_TIMEOUT', async (t) => {
  const running = await startEdge(t, config('timeouts: { headers: 500ms, idle: 30s }'));
  const client = await plain(t, running.addresses.http?.port ?? 0);
  client.socket.write('GET /slow HTTP/1.1\r\nHost: localhost\r\n'); // and never the blank line
  const took = await client.closed(5000);
  t.ok(took >= 400, `not before timeouts.headers (${took} ms)`);
  t.match(client.text(), /^HTTP\/1\.1 408 /);
  t.notMatch(client.text(), /strict-transport-security/i, 'no HSTS over plain HTTP');
  t.match(await running.logs.next((l) => l.event === 'client-error'), { listener: 'http', code: 'EDGE_ERR_REQUEST_TIMEOUT', status: 408 });
});

t.test(':80 answers a head over limits.headerSize with 431 and EDGE_ERR_HEADERS_TOO_LARGE', async (t) => {
  const running = await startEdge(t, config('limits: { headerSize: 4k }'));
  const client = await plain(t, running.addresses.http?.port ?? 0);
  client.socket.write(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: ${'a'.repeat(6000)}\r\n\r\n`);
  await client.closed(5000);
  t.match(client.text(), /^HTTP\/1\.1 431 /);
  t.match(await running.logs.next((l) => l.event === 'client-error'), { listener: 'http', code: 'EDGE_ERR_HEADERS_TOO_LARGE', status: 431 });
  const small = await plain(t, running.addresses.http?.port ?? 0);
  small.socket.write(`GET / HTTP/1.1\r\nHost: localhost\r\nX-Small: ${'a'.repeat(3000)}\r\nConnection: close\r\n\r\n`);
  await small.closed(5000);
  t.match(small.text(), /^HTTP\/1\.1 301 /, 'a head within the limit is redirected');
});

t.test(':80 closes an idle keep-alive connection at timeouts.idle', async (t) => {
  const running = await startEdge(t, config('timeouts: { idle: 500ms }'));
  const client = await plain(t, running.addresses.http?.port ?? 0);
  client.socket.write('GET /a HTTP/1.1\r\nHost: localhost\r\n\r\n');
  for (let i = 0; i < 100 && !/\r\n\r\n/.test(client.text()); i++) await new Promise((r) => setTimeout(r, 20));
  t.match(client.text(), /^HTTP\/1\.1 301 /, 'answered, and kept alive');
  // Node's own keep-alive default is 5 s: the bound sits between the two.
  const took = await client.closed(3000);
  t.ok(took >= 300, `not before timeouts.idle (${took} ms)`);
});
