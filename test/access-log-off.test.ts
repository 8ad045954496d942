// routes[].accessLog: false (nginx's `access_log off` in a location): the route's requests write no
// access line, whatever answers them (its upstream, its files, a respond), while /metrics still
// counts them and other routes still log.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const root = mkdtempSync(join(tmpdir(), 'gh-quiet-'));
t.teardown(() => rmSync(root, { recursive: true, force: true }));
writeFileSync(join(root, 'favicon.ico'), 'icon');

const app = await startBackend(t);
const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0", admin: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${app.address}"] }
sites:
  - hosts: [localhost]
    routes:
      - { exact: /healthz, upstream: app, accessLog: false }
      - { exact: /favicon.ico, files: { root: "${root}" }, accessLog: false }
      - { exact: /ping, respond: { status: 200, body: pong }, accessLog: false }
      - { path: /, upstream: app }
`);

function metrics(): Promise<string> {
  return within(5000, new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: edge.addresses.admin?.port ?? 0, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
    });
    req.on('error', reject).end();
  }), 'the admin listener\'s /metrics');
}

t.test('accessLog: false: no request line for the route\'s requests (upstream, files, respond); counted in /metrics; other routes log', async (t) => {
  t.equal((await get(edge.port, '/healthz')).status, 200);
  t.equal((await get(edge.port, '/favicon.ico')).body, 'icon');
  t.equal((await get(edge.port, '/ping')).body, 'pong');
  t.equal((await get(edge.port, '/missing-on-healthz-route?x')).status, 200);
  // The logged request comes last: once its line is there, the earlier ones' would be too.
  const line = await edge.logs.next((l) => l.msg === 'request' && l.path === '/missing-on-healthz-route?x');
  t.ok(line, 'a route without accessLog: false logs its request');
  const quiet = edge.logs.lines.filter((l) => l.msg === 'request' && ['/healthz', '/favicon.ico', '/ping'].includes(String(l.path)));
  t.same(quiet, [], 'no line for the quiet routes');
  const text = await metrics();
  t.match(text, /gatehouse_requests_total\{route="localhost\/healthz",status="200",protocol="http\/1\.1"\} 1/, 'the quiet upstream route is counted');
  t.match(text, /gatehouse_requests_total\{route="localhost\/favicon\.ico",status="200",protocol="http\/1\.1"\} 1/, 'so is the files route');
  t.equal(app.seen.filter((s) => s.url === '/healthz').length, 1);
});
