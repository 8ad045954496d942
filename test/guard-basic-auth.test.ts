import { createHash } from 'node:crypto';
import { appendFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import apacheMd5 from 'apache-md5';
import bcrypt from 'bcryptjs';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { startEdge, writeConfigFile } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { get, rawTls } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

type Tap = Parameters<typeof startBackend>[0];

const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** htpasswd lines as `htpasswd -B` (bcrypt, $2y$ as Apache writes it), `-m` (apr1) and `-s` ({SHA}) write them. */
function htpasswd(bcryptCost = 10): string {
  return [
    `admin:${bcrypt.hashSync('s3cret', bcryptCost).replace(/^\$2b\$/, '$2y$')}`,
    `old:${apacheMd5('apr-pass')}`,
    `sha:{SHA}${createHash('sha1').update('sha-pass').digest('base64')}`,
    '',
  ].join('\n');
}

function config(backend: string, cost = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /admin/, upstream: app, auth: { basic: { realm: Admin, users: ${cost}users.htpasswd } } }
      - { path: /, upstream: app }
`;
}

async function edgeWithUsers(t: Tap, bcryptCost = 10) {
  const backend = await startBackend(t);
  const { dir } = await writeConfigFile(t, '');
  writeFileSync(join(dir, 'users.htpasswd'), htpasswd(bcryptCost));
  // startEdge writes its own temp dir: point users at this one.
  const edge = await startEdge(t, config(backend.address, `${dir}/`));
  return { backend, edge, file: join(dir, 'users.htpasswd') };
}

t.test('no credentials: 401 with a Basic challenge and HSTS; nothing reaches the upstream', async (t) => {
  const { backend, edge } = await edgeWithUsers(t);
  const reply = await get(edge.port, '/admin/');
  t.equal(reply.status, 401);
  t.equal(reply.headers['www-authenticate'], 'Basic realm="Admin", charset="UTF-8"');
  t.match(reply.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 401);
  t.equal(line?.code, 'EDGE_ERR_UNAUTHORIZED');
  t.equal(line?.rule, 'auth.basic');
  t.equal(backend.seen.length, 0);
});

t.test('bcrypt ($2y$), apr1 and {SHA} entries admit their users; wrong, unknown and malformed credentials are 401', async (t) => {
  const { backend, edge } = await edgeWithUsers(t);
  const status = (authorization: string): Promise<number> => get(edge.port, '/admin/', { headers: { authorization } }).then((r) => r.status);
  t.equal(await status(basic('admin', 's3cret')), 200);
  t.equal(await status(basic('admin', 's3cret')), 200, 'again (from the verified cache)');
  t.equal(await status(basic('old', 'apr-pass')), 200);
  t.equal(await status(basic('sha', 'sha-pass')), 200);
  t.equal(await status(basic('admin', 's3cret ')), 401);
  t.equal(await status(basic('nobody', 's3cret')), 401);
  t.equal(await status('Basic !!!!'), 401);
  t.equal(await status('Bearer abc'), 401);
  t.equal(await status(`Basic ${'A'.repeat(12_000)}`), 401, 'a huge token is just wrong');
  t.equal(await status('basic   ' + Buffer.from('admin:s3cret').toString('base64')), 200, 'the scheme is case-insensitive (RFC 7617 §2)');
  t.equal(backend.seen.length, 5);
  const raw = await rawTls(edge.port, `GET /admin/ HTTP/1.1\r\nHost: localhost\r\nAuthorization: Basic\r\nConnection: close\r\n\r\n`);
  t.match(raw, /^HTTP\/1\.1 401 Unauthorized\r\n/);
  const h2 = await h2Get(t, edge.port, { ':path': '/admin/', authorization: basic('admin', 'nope') });
  t.equal(h2.status, 401);
  t.equal(h2.headers['www-authenticate'], 'Basic realm="Admin", charset="UTF-8"');
});

t.test('a changed htpasswd file is read again without a reload', async (t) => {
  const { edge, file } = await edgeWithUsers(t);
  t.equal((await get(edge.port, '/admin/', { headers: { authorization: basic('new', 'pw') } })).status, 401);
  appendFileSync(file, `new:{SHA}${createHash('sha1').update('pw').digest('base64')}\n`);
  let status = 0;
  for (let i = 0; i < 40 && status !== 200; i++) {
    await new Promise((r) => setTimeout(r, 100));
    status = (await get(edge.port, '/admin/', { headers: { authorization: basic('new', 'pw') } })).status;
  }
  t.equal(status, 200, 'the new user is admitted within 4 s');
});

t.test('repeated failures from one address are answered 429; another address is not affected', async (t) => {
  const { edge } = await edgeWithUsers(t);
  const from = (localAddress: string, password: string): Promise<{ status: number; retry: string | undefined }> =>
    get(edge.port, '/admin/', { localAddress, headers: { authorization: basic('sha', password) } }).then((r) => ({ status: r.status, retry: r.headers['retry-after'] }));
  for (let i = 0; i < 10; i++) t.equal((await from('127.0.0.5', `wrong${i}`)).status, 401);
  const throttled = await from('127.0.0.5', 'sha-pass');
  t.equal(throttled.status, 429, 'even the right password waits');
  t.ok(Number(throttled.retry) >= 1);
  const line = await edge.logs.next((l) => l.status === 429);
  t.equal(line?.code, 'EDGE_ERR_AUTH_THROTTLED');
  t.equal((await from('127.0.0.6', 'sha-pass')).status, 200);
});

t.test('a bcrypt check does not hold up other clients: a plain request sent during it is answered first', async (t) => {
  // Cost 13 (~0.5 s a check in bcryptjs): three checks far outlast a plain request's new TLS
  // connection on any Node line, so the order says whether they blocked the event loop, not how
  // fast this machine is (at cost 10, Node 26 finished them before the plain handshake did).
  const { edge } = await edgeWithUsers(t, 13);
  const order: string[] = [];
  // Unknown user: the dummy bcrypt hash is checked, so the cost is paid without a cache hit.
  const slow = Promise.all([1, 2, 3].map((i) => get(edge.port, '/admin/', { headers: { authorization: basic(`x${i}`, 'y') } }).then(() => order.push('bcrypt'))));
  await new Promise((r) => setTimeout(r, 5));
  await get(edge.port, '/').then(() => order.push('plain'));
  await slow;
  t.equal(order[0], 'plain', `order: ${order.join(', ')}`);
});

t.test('check: weak hash formats are accepted with a warning; a line htpasswd would not write is an error', async (t) => {
  const { dir, file } = await writeConfigFile(t, config('127.0.0.1:9'));
  writeFileSync(join(dir, 'users.htpasswd'), htpasswd());
  const loaded = await loadConfig(file);
  t.ok(loaded.config !== undefined);
  t.ok(loaded.problems.some((p) => p.severity === 'warning' && /apr1 and sha1 hashes/.test(p.message)), JSON.stringify(loaded.problems));
  writeFileSync(join(dir, 'users.htpasswd'), 'plain:password\n');
  const bad = await loadConfig(file);
  t.equal(bad.config, undefined);
  t.ok(bad.problems.some((p) => /users\.htpasswd:1: expected user:hash/.test(p.message)));
});
