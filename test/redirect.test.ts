import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { startEdge, tempDir } from './helpers/edge.js';

interface Plain { status: number; headers: Record<string, string | string[] | undefined>; body: string }

function plain(port: number, path: string, headers: Record<string, string> = {}): Promise<Plain> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host: 'localhost', ...headers }, agent: false }, (res) => {
      let body = '';
      res.setEncoding('latin1');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

function raw(port: number, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1', () => s.write(text));
    let out = '';
    s.setEncoding('latin1');
    s.on('data', (c: string) => { out += c; });
    s.on('end', () => resolve(out));
    s.on('error', reject);
    setTimeout(() => { s.destroy(); resolve(out); }, 2000).unref();
  });
}

const config = (extra = '') => `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["127.0.0.1:9"] } }
sites:
  - hosts: [app.test, localhost, "*.wild.test"]
    routes: [{ path: /, upstream: app }]
${extra}`;

t.test('redirects to https on a configured host, path and query byte for byte, no HSTS', async (t) => {
  const { addresses } = await startEdge(t, config());
  const port = addresses.http?.port as number;
  const https = addresses.https.port;
  const r = await plain(port, '/a//b/%2e%2E/c?x=%20y&z', { host: 'LOCALHOST:8080' });
  t.equal(r.status, 301);
  t.equal(r.headers.location, `https://localhost:${https}/a//b/%2e%2E/c?x=%20y&z`);
  t.equal(r.headers['strict-transport-security'], undefined);
  t.equal((await plain(port, '/', { host: 'x.wild.test' })).headers.location, `https://x.wild.test:${https}/`);
});

t.test('unknown, hostile or missing Host → the first configured host, never elsewhere', async (t) => {
  const { addresses } = await startEdge(t, config());
  const port = addresses.http?.port as number;
  const https = addresses.https.port;
  t.equal((await plain(port, '/p', { host: 'evil.example' })).headers.location, `https://app.test:${https}/p`);
  t.equal((await plain(port, '//evil.example/p')).headers.location, `https://localhost:${https}//evil.example/p`, 'a path, not an authority');
  const absolute = await raw(port, 'GET http://evil.example/p?q HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  t.match(absolute, new RegExp(`\r\nlocation: https://app\\.test:${https}/p\\?q\r\n`, 'i'));
  const http10 = await raw(port, 'GET /old HTTP/1.0\r\n\r\n');
  t.match(http10, /^HTTP\/1\.1 301 /);
  t.match(http10, new RegExp(`\r\nlocation: https://app\\.test:${https}/old\r\n`, 'i'));
  const injected = await raw(port, 'GET / HTTP/1.1\r\nHost: app.test\r\n\tX-Injected: 1\r\nConnection: close\r\n\r\n');
  t.notMatch(injected, /X-Injected/i, 'obs-fold does not smuggle a header into the answer');
});

t.test('redirect.status is honoured', async (t) => {
  const { addresses } = await startEdge(t, config('redirect: { status: 308 }'));
  t.equal((await plain(addresses.http?.port as number, '/')).status, 308);
});

t.test('ACME webroot: tokens served with 200/404, no redirect, no traversal, no symlink escape', async (t) => {
  const dir = tempDir(t);
  const webroot = join(dir, 'acme');
  mkdirSync(join(webroot, '.well-known', 'acme-challenge'), { recursive: true });
  writeFileSync(join(webroot, '.well-known', 'acme-challenge', 'tok_EN-1'), 'tok_EN-1.thumbprint');
  writeFileSync(join(dir, 'secret'), 'do not serve');
  symlinkSync(join(dir, 'secret'), join(webroot, '.well-known', 'acme-challenge', 'escape'));
  const { addresses } = await startEdge(t, config(`redirect: { acmeWebroot: "${webroot}" }`));
  const port = addresses.http?.port as number;
  const ok = await plain(port, '/.well-known/acme-challenge/tok_EN-1');
  t.equal(ok.status, 200);
  t.equal(ok.body, 'tok_EN-1.thumbprint');
  for (const bad of ['missing', 'escape', '..%2f..%2fsecret', '../../../secret', 'a.b', '%2e%2e', '']) {
    const r = await plain(port, `/.well-known/acme-challenge/${bad}`);
    t.equal(r.status, 404, `token ${JSON.stringify(bad)}`);
    t.equal(r.headers.location, undefined);
  }
});
