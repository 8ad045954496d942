import t from 'tap';
import { startEdge, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';

const config = (address: string, websocket = '') => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${address}"] } }
sites:
  - hosts: [localhost, app.test]
    routes:
      - path: /
        upstream: app
${websocket}
`;

function handshake(extra: string, path = '/chat'): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ${KEY}\r\n${extra}\r\n`;
}

t.test('an allowed Origin gets a tunnel that echoes; the default allows the site\'s own https origins', async (t) => {
  const backend = await startWsBackend(t, 'b1');
  const { port, logs } = await startEdge(t, config(backend.address));
  const ws = await openWs(port, '/chat?room=1', { origin: 'https://localhost' });
  t.equal(await roundTrip(ws, 'hello'), 'b1:hello');
  t.equal(backend.upgrades[0]?.url, '/chat?room=1');
  t.equal(backend.upgrades[0]?.headers['x-forwarded-for'], '127.0.0.1');
  ws.close();
  await within(5_000, new Promise((r) => ws.once('close', r)), 'ws to close');
  await new Promise((r) => setTimeout(r, 100));
  t.ok(logs.find((l) => l.event === 'websocket-open'), 'open logged');
  const closed = logs.find((l) => l.event === 'websocket-close');
  t.ok(closed, 'close logged');
  t.type(closed?.durationMs, 'number');
  t.ok((closed?.bytesIn as number) > 0 && (closed?.bytesOut as number) > 0, 'bytes both ways logged');
});

t.test('refusals are real 403s with HSTS, a log line, and no upstream contact', async (t) => {
  const backend = await startWsBackend(t);
  const { port, logs } = await startEdge(t, config(backend.address, `        websocket: { origins: ["https://app.test", "https://*.example.com"] }`));
  const cases: [string, string][] = [
    ['Origin: https://evil.test\r\n', 'foreign origin'],
    ['', 'missing origin'],
    ['Origin: null\r\n', 'opaque origin'],
    ['Origin: https://app.test\r\nOrigin: https://evil.test\r\n', 'two origins'],
    ['Origin: https://example.com.evil.test\r\n', 'suffix trick'],
    ['Origin: http://app.test\r\n', 'wrong scheme'],
    [`${Array.from({ length: 150 }, (_, i) => `X-Flood-${i}: 1\r\n`).join('')}Origin: https://app.test\r\n`, 'header flood'],
  ];
  for (const [headers, why] of cases) {
    const reply = parseRaw(await rawTls(port, handshake(headers)));
    t.ok(reply.status === 403 || reply.status === 431, `${why}: ${reply.status}`);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], `${why}: HSTS`);
    t.strictSame(reply.headers.get('connection'), ['close'], `${why}: Connection: close`);
  }
  t.equal(backend.connections, 0, 'the upstream never saw a connection');
  await new Promise((r) => setTimeout(r, 50));
  const refusal = logs.find((l) => l.event === 'websocket-refused' && l.origin === 'https://evil.test');
  t.match(refusal, { status: 403, reason: /not allowed/ });
  const ok = await openWs(port, '/', { origin: 'https://a.b.example.com' });
  t.equal(await roundTrip(ok, 'x'), 'ws:x', 'a pattern admits subdomains');
  ok.terminate();
});

t.test('allowMissingOrigin admits non-browser clients', async (t) => {
  const backend = await startWsBackend(t);
  const { port } = await startEdge(t, config(backend.address, '        websocket: { allowMissingOrigin: true }'));
  const ws = await openWs(port, '/');
  t.equal(await roundTrip(ws, 'cli'), 'ws:cli');
  ws.terminate();
});

t.test('malformed handshakes get 4xx with HSTS and no upstream contact', async (t) => {
  const backend = await startWsBackend(t);
  const { port } = await startEdge(t, config(backend.address, '        websocket: { allowMissingOrigin: true }'));
  const bad: [string, number][] = [
    [handshake('').replace(`Sec-WebSocket-Key: ${KEY}\r\n`, ''), 400],
    [handshake('').replace(KEY, 'c2hvcnQ='), 400],
    [handshake('').replace('Version: 13', 'Version: 8'), 426],
    [handshake('').replace('GET ', 'POST '), 400],
  ];
  for (const [raw, status] of bad) {
    const reply = parseRaw(await rawTls(port, raw));
    t.equal(reply.status, status);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS]);
    if (status === 426) t.strictSame(reply.headers.get('sec-websocket-version'), ['13']);
  }
  t.equal(backend.connections, 0);
});
