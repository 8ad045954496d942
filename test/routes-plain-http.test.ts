import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { startEdge, tempDir, HSTS } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';
import { roundTrip } from './helpers/ws.js';
import { within } from './helpers/wait.js';

type Tap = Parameters<typeof startBackend>[0];

function plain(port: number, path: string, host: string, method = 'GET'): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, headers: { host }, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.setTimeout(5000, () => req.destroy(new Error('plain HTTP request timed out')));
    req.on('error', reject);
    req.end(method === 'POST' ? 'x' : undefined);
  });
}

async function edgeWith(t: Tap): Promise<{ http: number; https: number; seen: { url: string; proto: string | undefined }[] }> {
  const seen: { url: string; proto: string | undefined }[] = [];
  const app = await startBackend(t, (req, res) => {
    seen.push({ url: req.url ?? '', proto: req.headers['x-forwarded-proto'] as string | undefined });
    res.end(`app ${req.method ?? ''} ${req.url ?? ''}`);
  });
  const webroot = tempDir(t);
  mkdirSync(join(webroot, '.well-known', 'acme-challenge'), { recursive: true });
  writeFileSync(join(webroot, '.well-known', 'acme-challenge', 'tok_1'), 'token-body');
  const running = await startEdge(t, `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
redirect: { acmeWebroot: "${webroot}" }
upstreams:
  app: { targets: ["${app.address}"] }
sites:
  - hosts: [localhost]
    plainHttp: serve
    headers: { response: { set: { X-Site: yes } } }
    routes:
      - regex: '^/page$'
        scheme: http
        methods: [GET]
        redirect: { to: "https://{host}{uri}" }
      - path: /
        upstream: app
  - hosts: [app.test]
    routes: [{ path: /, upstream: app }]
`);
  return { http: running.addresses.http?.port ?? 0, https: running.port, seen };
}

t.test('plainHttp: serve: :80 serves the site\'s routes without HSTS; scheme and methods are conditions', async (t) => {
  const { http, https, seen } = await edgeWith(t);
  const r = await plain(http, '/x?y=1', 'localhost');
  t.equal(r.status, 200);
  t.equal(r.body, 'app GET /x?y=1');
  t.equal(r.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP (RFC 6797 §7.2)');
  t.equal(r.headers['x-site'], 'yes', 'site header rules apply on :80 too');
  t.equal(seen.at(-1)?.proto, 'http', 'X-Forwarded-Proto says how the client came');
  const page = await plain(http, '/page?a=1', 'localhost');
  t.equal(page.status, 302, 'scheme: http + methods: [GET] → redirect');
  t.equal(page.headers.location, 'https://localhost/page?a=1');
  t.equal(page.headers['strict-transport-security'], undefined);
  const post = await plain(http, '/page', 'localhost', 'POST');
  t.equal(post.body, 'app POST /page', 'a POST falls through to the next route');
  const secure = await get(https, '/page');
  t.equal(secure.body, 'app GET /page', 'over https the scheme: http route is skipped');
  t.equal(secure.headers['strict-transport-security'], HSTS);
  t.equal(seen.at(-1)?.proto, 'https');
});

t.test('ACME challenges come first; sites without plainHttp: serve are still redirected', async (t) => {
  const { http } = await edgeWith(t);
  const token = await plain(http, '/.well-known/acme-challenge/tok_1', 'localhost');
  t.equal(token.status, 200);
  t.equal(token.body, 'token-body');
  const other = await plain(http, '/x', 'app.test');
  t.equal(other.status, 301);
  t.match(String(other.headers.location), /^https:\/\/app\.test(:\d+)?\/x$/);
});

/** Bytes written on a plain TCP connection, and everything the edge answers until it closes (bounded). */
function rawPlain(port: number, data: string): Promise<string> {
  return within(5000, new Promise<string>((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(data));
    let text = '';
    socket.setEncoding('latin1').on('data', (c: string) => { text += c; }).on('end', () => resolve(text)).on('error', reject);
  }), 'the edge to answer on :80 and close');
}

function openPlainWs(port: number, path: string, origin: string | undefined, host = 'localhost'): Promise<WebSocket> {
  const ws = new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host }, ...(origin === undefined ? {} : { origin }) });
  return within(5000, new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { status: res.statusCode, headers: res.headers }));
    });
    ws.once('error', reject);
  }), `a plain WebSocket handshake for ${path}`);
}

t.test('plainHttp: serve: WebSockets on :80 go through the same Origin gate and tunnel, without HSTS; other sites get the redirect', async (t) => {
  const ws = await startWsBackend(t);
  const running = await startEdge(t, `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  ws: { targets: ["${ws.address}"] }
sites:
  - hosts: [localhost]
    plainHttp: serve
    routes:
      - { path: /denied/, upstream: ws, access: { deny: [127.0.0.0/8] } }
      - { path: /, upstream: ws }
  - hosts: [app.test]
    routes: [{ path: /, upstream: ws }]
`);
  const http = running.addresses.http?.port ?? 0;
  const open = await openPlainWs(http, '/live', 'http://localhost');
  t.equal(await roundTrip(open, 'over :80'), 'ws:over :80', 'the default origins include the site\'s http origin');
  open.close();
  t.equal(ws.upgrades[0]?.headers['x-forwarded-proto'], 'http', 'X-Forwarded-Proto says how the client came');
  const secureOrigin = await openPlainWs(http, '/live', 'https://localhost');
  t.equal(await roundTrip(secureOrigin, 'x'), 'ws:x', 'and its https origin');
  secureOrigin.close();
  const refused = await openPlainWs(http, '/live', 'http://evil.example').then(() => undefined, (err: { status?: number; headers?: Record<string, unknown> }) => err);
  t.equal(refused?.status, 403, 'a foreign origin is refused on :80 too');
  t.equal(refused?.headers?.['strict-transport-security'], undefined, 'without HSTS (RFC 6797 §7.2)');
  const line = await running.logs.next((l) => l.event === 'websocket-refused');
  t.equal(line?.code, 'EDGE_ERR_FORBIDDEN_ORIGIN');
  t.equal(ws.upgrades.length, 2, 'the refused handshake never reached the upstream');
  const guarded = await openPlainWs(http, '/denied/x', 'http://localhost').then(() => undefined, (err: { status?: number; headers?: Record<string, unknown> }) => err);
  t.equal(guarded?.status, 403, 'the route\'s guard decides on :80 too');
  t.equal(guarded?.headers?.['strict-transport-security'], undefined, 'its refusal without HSTS');

  const handshake = (host: string): string => `GET /live?a=1 HTTP/1.1\r\nHost: ${host}\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://${host}\r\n\r\n`;
  const redirected = await rawPlain(http, handshake('app.test'));
  t.match(redirected, /^HTTP\/1\.1 301 Moved Permanently\r\n/, 'a site without plainHttp: serve redirects the handshake like any request');
  t.match(redirected, new RegExp(`\r\nLocation: https://app\\.test:${running.port}/live\\?a=1\r\n`));
  t.notMatch(redirected, /Strict-Transport-Security/i);
  t.equal(ws.upgrades.length, 2);
});
