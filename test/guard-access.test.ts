import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { get, rawTls } from './helpers/net.js';
import { openWs } from './helpers/ws.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';

type Tap = Parameters<typeof startBackend>[0];

function config(backend: string, access: string, extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /admin/, upstream: app, access: ${access} }
      - { path: /, upstream: app }
${extra}`;
}

async function edgeWith(t: Tap, access: string, extra = '') {
  const backend = await startBackend(t);
  const edge = await startEdge(t, config(backend.address, access, extra));
  return { backend, edge };
}

t.test('access.methods: another method is 405 with Allow and HSTS, logged with the rule and code; GET implies HEAD', async (t) => {
  const { backend, edge } = await edgeWith(t, '{ methods: [GET, POST] }');
  const refused = await get(edge.port, '/admin/x', { method: 'DELETE' });
  t.equal(refused.status, 405);
  t.equal(refused.headers.allow, 'GET, POST, HEAD');
  t.match(refused.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 405);
  t.equal(line?.code, 'EDGE_ERR_METHOD_NOT_ALLOWED');
  t.equal(line?.rule, 'access.methods');
  t.equal(backend.seen.length, 0, 'nothing reached the upstream');
  t.equal((await get(edge.port, '/admin/x', { method: 'HEAD' })).status, 200);
  t.equal((await get(edge.port, '/admin/x', { method: 'POST', body: 'a' })).status, 200);
  t.equal((await get(edge.port, '/other', { method: 'DELETE' })).status, 200, 'other routes are not guarded');
});

t.test('access.deny matching the client address is 403 with HSTS and a log line naming the entry', async (t) => {
  const { backend, edge } = await edgeWith(t, '{ deny: [10.0.0.0/8, 127.0.0.0/8] }');
  const refused = await get(edge.port, '/admin/');
  t.equal(refused.status, 403);
  t.match(refused.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 403);
  t.equal(line?.code, 'EDGE_ERR_ACCESS_DENIED');
  t.equal(line?.rule, 'access.deny 127.0.0.0/8');
  t.equal(line?.clientIp, '127.0.0.1');
  t.equal(backend.seen.length, 0);
});

t.test('a non-empty access.allow admits only its addresses; deny wins over allow', async (t) => {
  const { backend, edge } = await edgeWith(t, '{ allow: [127.0.0.2/32, 127.0.0.0/24], deny: [127.0.0.3] }');
  t.equal((await get(edge.port, '/admin/', { localAddress: '127.0.0.2' })).status, 200);
  t.equal((await get(edge.port, '/admin/', { localAddress: '127.0.0.1' })).status, 200);
  t.equal((await get(edge.port, '/admin/', { localAddress: '127.0.0.3' })).status, 403, 'deny wins');
  t.equal((await get(edge.port, '/admin/', { localAddress: '127.0.1.1' })).status, 403, 'outside allow');
  const line = await edge.logs.next((l) => l.status === 403 && l.clientIp === '127.0.1.1');
  t.equal(line?.rule, 'access.allow (no entry matches)');
  t.equal(backend.seen.length, 2);
});

t.test('X-Forwarded-For from an untrusted peer does not change the address access sees', async (t) => {
  const { edge } = await edgeWith(t, '{ allow: [10.0.0.0/8] }');
  const spoofed = await get(edge.port, '/admin/', { headers: { 'x-forwarded-for': '10.1.2.3', 'x-real-ip': '10.1.2.3' } });
  t.equal(spoofed.status, 403);
});

t.test('behind a trusted proxy, access sees the forwarded client', async (t) => {
  const { edge } = await edgeWith(t, '{ allow: [10.0.0.0/8], deny: [10.9.0.0/16] }', 'trustedProxies: [127.0.0.1/32]');
  t.equal((await get(edge.port, '/admin/', { headers: { 'x-forwarded-for': '10.1.2.3' } })).status, 200);
  t.equal((await get(edge.port, '/admin/', { headers: { 'x-forwarded-for': '10.9.2.3' } })).status, 403);
  t.equal((await get(edge.port, '/admin/')).status, 403, 'the proxy itself is not in allow');
});

t.test('h2 requests meet the same rules', async (t) => {
  const { backend, edge } = await edgeWith(t, '{ methods: [GET], deny: [127.0.0.1] }');
  const wrongMethod = await h2Get(t, edge.port, { ':path': '/admin/', ':method': 'PUT' });
  t.equal(wrongMethod.status, 405);
  t.equal(wrongMethod.headers.allow, 'GET, HEAD');
  const denied = await h2Get(t, edge.port, { ':path': '/admin/' });
  t.equal(denied.status, 403);
  t.match(denied.headers['strict-transport-security'], /max-age=/);
  t.equal(backend.seen.length, 0);
});

t.test('a denied WebSocket upgrade is refused before any upstream connection', async (t) => {
  const ws = await startWsBackend(t);
  const edge = await startEdge(t, config(ws.address, '{ deny: [127.0.0.1] }').replace('path: /admin/', 'path: /admin/, websocket: { allowMissingOrigin: true }'));
  const refused = await openWs(edge.port, '/admin/ws', { origin: 'https://localhost' }).then(() => 0, (err: { status?: number }) => err.status ?? -1);
  t.equal(refused, 403);
  const line = await edge.logs.next((l) => l.event === 'websocket-refused');
  t.equal(line?.code, 'EDGE_ERR_ACCESS_DENIED');
  t.equal(ws.connections, 0, 'the upstream was never contacted');
  const raw = await rawTls(edge.port, 'GET /admin/ HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
  t.match(raw, /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.match(raw, /Strict-Transport-Security: max-age=/);
});
