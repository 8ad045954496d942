import { mkdirSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { startEdge, tempDir, HSTS } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

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
