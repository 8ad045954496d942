// The response cache (DESIGN 28, issue 24): RFC 9111 shared-cache semantics on real sockets,
// with a real upstream on loopback counting what reaches it.
import { request as httpsRequest, Agent } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { request as httpRequest } from 'node:http';
import { gunzipSync } from 'node:zlib';
import t from 'tap';
import { startEdge, type RunningEdge } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

interface Answer { status: number; headers: IncomingHttpHeaders; body: string }

async function ask(port: number, path: string, headers: Record<string, string> = {}, method = 'GET', agent: Agent | false = false): Promise<Answer> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method, servername: 'localhost', ca: certs.caPem, agent, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** How often the upstream saw each path (query included). */
function hits(backend: Upstream, url: string): number {
  return backend.seen.filter((s) => s.url === url).length;
}

/** Upstream state the tests steer. */
const steer = { fail: new Set<string>(), version: new Map<string, number>() };

function app(req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/';
  const path = url.split('?')[0] ?? '/';
  const cookie = req.headers.cookie ?? '';
  const user = /user=(\w+)/.exec(cookie)?.[1] ?? 'anonymous';
  if (path.startsWith('/upd/')) {
    const n = hitsOf(url);
    setTimeout(() => res.writeHead(200, { 'content-type': 'text/plain', 'cache-control': 'max-age=1' }).end(`upd #${n}`), steer.fail.has(path) ? 400 : 0);
    return;
  }
  if (steer.fail.has(path)) {
    if (path.includes('/hang')) return; // never answers: the route's response timeout fires
    if (path.includes('/reset')) return void req.socket.destroy();
    return void res.writeHead(500, { 'content-type': 'text/plain' }).end('upstream broke');
  }
  const text = { 'content-type': 'text/plain' };
  if (path.startsWith('/pub/')) return void res.writeHead(200, { ...text, 'cache-control': 'public, max-age=60' }).end(`public ${url}`);
  if (path.startsWith('/plain/')) return void res.writeHead(200, text).end(`plain ${url}`);
  if (path.startsWith('/private/')) return void res.writeHead(200, { ...text, 'cache-control': 'private, max-age=60' }).end(`private page of ${user}`);
  if (path.startsWith('/no-store/')) return void res.writeHead(200, { ...text, 'cache-control': 'no-store' }).end(`no-store of ${user}`);
  if (path.startsWith('/set-cookie/')) return void res.writeHead(200, { ...text, 'cache-control': 'public, max-age=60', 'set-cookie': `session=${user}` }).end(`welcome ${user}`);
  if (path === '/account.css' || path.startsWith('/account/')) return void res.writeHead(200, { 'content-type': 'text/html' }).end(`account of ${user}: secret-${user}`);
  if (path.startsWith('/reflect/')) {
    const seen = `host=${req.headers.host} xfh=${String(req.headers['x-forwarded-host'])} xou=${String(req.headers['x-original-url'])} xfs=${String(req.headers['x-forwarded-scheme'])}`;
    return void res.writeHead(200, { ...text, 'cache-control': 'public, max-age=60' }).end(seen);
  }
  if (path.startsWith('/vary/')) return void res.writeHead(200, { ...text, 'cache-control': 'max-age=60', vary: 'Accept-Language' }).end(`lang=${req.headers['accept-language'] ?? '-'}`);
  if (path.startsWith('/auth/')) {
    const cc = path.includes('shared') ? 'public, max-age=60' : 'max-age=60';
    return void res.writeHead(200, { ...text, 'cache-control': cc }).end(`for ${req.headers.authorization ?? 'nobody'}`);
  }
  if (path.startsWith('/etag/')) {
    const v = steer.version.get(path) ?? 1;
    const etag = `"v${v}"`;
    if (req.headers['if-none-match'] === etag) return void res.writeHead(304, { etag, 'cache-control': 'max-age=1', 'x-refreshed': 'yes' }).end();
    return void res.writeHead(200, { ...text, etag, 'cache-control': 'max-age=1' }).end(`version ${v}`);
  }
  if (path.startsWith('/short/') || path.startsWith('/t/short/')) return void res.writeHead(200, { ...text, 'cache-control': 'max-age=1' }).end(`short ${url} #${hitsOf(url)}`);
  if (path.startsWith('/swr/')) return void res.writeHead(200, { ...text, 'cache-control': 'max-age=1, stale-while-revalidate=30' }).end(`swr #${hitsOf(url)}`);
  if (path.startsWith('/slow/')) {
    setTimeout(() => res.writeHead(200, { ...text, 'cache-control': 'max-age=60' }).end(`slow ${url}`), 300);
    return;
  }
  if (path === '/t/big') return void res.writeHead(200, { ...text, 'cache-control': 'max-age=60' }).end('compress me '.repeat(200));
  if (path.startsWith('/head/')) return void res.writeHead(200, { ...text, 'cache-control': 'max-age=60', 'content-length': '9' }).end('head body');
  if (path.startsWith('/must/')) return void res.writeHead(200, { ...text, 'cache-control': 'max-age=1, must-revalidate' }).end('must');
  res.writeHead(404, text).end('not here');
}

let counter: Upstream | undefined;
function hitsOf(url: string): number {
  return counter === undefined ? 0 : hits(counter, url);
}

function config(backend: string, extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0", admin: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend}"] }
cache: { memory: 8m }
sites:
  - hosts: [localhost, other.test]
    routes:
      - path: /plain-uncached/
        upstream: app
      - path: /t/
        upstream: app
        timeouts: { response: 500ms }
        compress: true
        headers: { response: { set: { X-Rule: "on" } } }
        cache: { useStale: [timeout] }
      - path: /
        upstream: app
        cache: { valid: { 200: 10m }, useStale: [error, timeout, http_500, updating], lock: true, lockTimeout: 2s }
${extra}`;
}

async function setup(t: { teardown(fn: () => unknown): void }): Promise<{ edge: RunningEdge; backend: Upstream }> {
  const backend = await startBackend(t, app);
  counter = backend;
  const edge = await startEdge(t, config(backend.address));
  return { edge, backend };
}

t.test('a cacheable answer is fetched once, then served from the store with Age and Cache-Status', async (t) => {
  const { edge, backend } = await setup(t);
  const first = await ask(edge.port, '/pub/a');
  t.equal(first.body, 'public /pub/a');
  t.equal(first.headers['cache-status'], 'Gatehouse; fwd=miss; fwd-status=200; stored');
  const second = await ask(edge.port, '/pub/a');
  t.equal(second.body, 'public /pub/a');
  t.match(second.headers['cache-status'], /^Gatehouse; hit; ttl=\d+$/);
  t.match(second.headers.age, /^\d+$/, 'a hit says its Age (RFC 9111 §5.1)');
  t.ok(second.headers['strict-transport-security'], 'hits carry HSTS like every answer');
  t.equal(hits(backend, '/pub/a'), 1, 'the upstream saw one request');
  const other = await ask(edge.port, '/pub/a?x=1');
  t.equal(other.headers['cache-status'], 'Gatehouse; fwd=miss; fwd-status=200; stored', 'the query is part of the key');
  const plain = await ask(edge.port, '/plain-uncached/x');
  t.equal(plain.headers['cache-status'], undefined, 'a route without cache says nothing about one');
});

t.test('valid gives a lifetime where the upstream gives none; HEAD is answered from the GET entry', async (t) => {
  const { edge, backend } = await setup(t);
  await ask(edge.port, '/plain/x');
  const again = await ask(edge.port, '/plain/x');
  t.match(again.headers['cache-status'], /hit; ttl=\d{3}/, 'valid: 200: 10m');
  t.equal(hits(backend, '/plain/x'), 1);
  await ask(edge.port, '/head/x');
  const head = await ask(edge.port, '/head/x', {}, 'HEAD');
  t.equal(head.status, 200);
  t.equal(head.body, '');
  t.equal(head.headers['content-length'], '9', 'HEAD gets the length the GET has');
  t.match(head.headers['cache-status'], /hit/);
  t.equal(hits(backend, '/head/x'), 1, 'HEAD did not go upstream');
  const missHead = await ask(edge.port, '/head/y', {}, 'HEAD');
  t.match(missHead.headers['cache-status'], /fwd=miss/);
  const afterHead = await ask(edge.port, '/head/y');
  t.match(afterHead.headers['cache-status'], /fwd=miss.*stored/, 'a HEAD answer is not stored (it has no body)');
  t.equal(afterHead.body, 'head body');
});

t.test('never stored: Set-Cookie, private, no-store, non-GET; Authorization and Cookie requests unless the upstream says public', async (t) => {
  const { edge, backend } = await setup(t);
  for (const [path, detail] of [['/set-cookie/a', 'set-cookie'], ['/private/a', 'private'], ['/no-store/a', 'no-store']] as const) {
    const a = await ask(edge.port, path, { cookie: 'user=alice' });
    const b = await ask(edge.port, path);
    t.match(a.headers['cache-status'], new RegExp(`fwd=miss.*detail=(${detail}|authenticated)`), `${path}: not stored`);
    t.match(b.headers['cache-status'], new RegExp(`detail=${detail}`), `${path}: not stored for an anonymous request either`);
    t.notMatch(b.body, /alice/, `${path}: alice's answer never reaches another client`);
    t.equal(b.headers['set-cookie'] === undefined ? 0 : 1, path.startsWith('/set-cookie') ? 1 : 0);
    t.equal(hits(backend, path), 2);
  }
  await ask(edge.port, '/auth/x', { authorization: 'Bearer alice' });
  const bob = await ask(edge.port, '/auth/x', { authorization: 'Bearer bob' });
  t.equal(bob.body, 'for Bearer bob', 'an Authorization answer without public is not stored (RFC 9111 §3.5)');
  await ask(edge.port, '/auth/shared', { authorization: 'Bearer alice' });
  const shared = await ask(edge.port, '/auth/shared');
  t.match(shared.headers['cache-status'], /hit/, 'public lets an authorized answer be shared, as the upstream asked');
  const post = await ask(edge.port, '/pub/post', {}, 'POST');
  t.equal(post.headers['cache-status'], 'Gatehouse; fwd=method');
  const afterPost = await ask(edge.port, '/pub/post');
  t.match(afterPost.headers['cache-status'], /fwd=miss/, 'a POST answer is not stored');
});

t.test('an unsafe method that succeeds invalidates the stored answer (RFC 9111 §4.4)', async (t) => {
  const { edge } = await setup(t);
  await ask(edge.port, '/pub/inv');
  t.match((await ask(edge.port, '/pub/inv')).headers['cache-status'], /hit/);
  await ask(edge.port, '/pub/inv', {}, 'DELETE');
  t.match((await ask(edge.port, '/pub/inv')).headers['cache-status'], /fwd=miss/);
});

t.test('poisoning: unkeyed headers and a second Host cannot change what others get', async (t) => {
  const { edge, backend } = await setup(t);
  const attacks: Record<string, string>[] = [
    { 'x-forwarded-host': 'evil.example' },
    { 'x-original-url': '/private/admin' },
    { 'x-rewrite-url': '/private/admin' },
    { 'x-forwarded-scheme': 'http' },
    { 'x-host': 'evil.example' },
    { 'x-http-method-override': 'DELETE' },
  ];
  for (const [i, headers] of attacks.entries()) {
    const path = `/reflect/${i}`;
    const attack = await ask(edge.port, path, headers);
    const victim = await ask(edge.port, path);
    t.notMatch(victim.body, /evil|\/private\/admin|xfs=http /, `${Object.keys(headers)[0]}: the victim does not get what the attacker steered`);
    t.match(victim.body, /host=localhost xfh=localhost xou=undefined xfs=undefined/);
    if (Object.keys(headers)[0] !== 'x-forwarded-host') t.match(attack.headers['cache-status'], /fwd=bypass/, 'a request with an override header bypasses the cache');
  }
  // A second Host: refused (pipeline/resolve.ts), so nothing is ever stored for it.
  const raw = await rawTls(edge.port, 'GET /reflect/host HTTP/1.1\r\nHost: localhost\r\nHost: evil.example\r\nConnection: close\r\n\r\n');
  const victim = await ask(edge.port, '/reflect/host');
  t.notMatch(victim.body, /evil/, 'a second Host does not poison the entry');
  t.equal(parseRaw(raw).status, 400, 'a second Host is refused before routing');
  // Another site name is another key.
  const other = await ask(edge.port, '/reflect/0', { host: 'other.test' });
  t.match(other.body, /host=other\.test/);
  t.ok(hits(backend, '/reflect/0') >= 2);
});

t.test('deception: /account.css of a logged-in user is never stored; a private answer never reaches another user', async (t) => {
  const { edge, backend } = await setup(t);
  const alice = await ask(edge.port, '/account.css', { cookie: 'user=alice' });
  t.match(alice.body, /secret-alice/);
  t.match(alice.headers['cache-status'], /detail=authenticated/);
  const attacker = await ask(edge.port, '/account.css');
  t.notMatch(attacker.body, /alice/, 'the attacker gets an answer made for them');
  t.equal(hits(backend, '/account.css'), 2);
  await ask(edge.port, '/private/page', { cookie: 'user=alice' });
  const bob = await ask(edge.port, '/private/page', { cookie: 'user=bob' });
  t.equal(bob.body, 'private page of bob');
  // Path confusion: a different path is a different key, whatever the upstream's router does with it.
  await ask(edge.port, '/account/settings/x.css', { cookie: 'user=alice' });
  const anon = await ask(edge.port, '/account/settings/x.css');
  t.notMatch(anon.body, /alice/);
});

t.test('Vary splits entries by the request header values', async (t) => {
  const { edge, backend } = await setup(t);
  const en = await ask(edge.port, '/vary/a', { 'accept-language': 'en' });
  const de = await ask(edge.port, '/vary/a', { 'accept-language': 'de' });
  t.equal(en.body, 'lang=en');
  t.equal(de.body, 'lang=de');
  t.match(de.headers['cache-status'], /fwd=miss/, 'another value is another entry');
  const en2 = await ask(edge.port, '/vary/a', { 'accept-language': 'en' });
  const de2 = await ask(edge.port, '/vary/a', { 'accept-language': 'de' });
  t.equal(en2.body, 'lang=en');
  t.equal(de2.body, 'lang=de');
  t.match(en2.headers['cache-status'], /hit/);
  t.match(de2.headers['cache-status'], /hit/);
  const none = await ask(edge.port, '/vary/a');
  t.equal(none.body, 'lang=-', 'no header is a value of its own');
  t.equal(hits(backend, '/vary/a'), 3);
});

t.test('purge by key and by prefix on the admin listener', async (t) => {
  const { edge, backend } = await setup(t);
  for (const p of ['/pub/p1', '/pub/p2', '/pub/q/1']) await ask(edge.port, p);
  const admin = edge.addresses.admin?.port ?? 0;
  const one = await post(admin, '/cache/purge', JSON.stringify({ key: 'httpslocalhost/pub/p1' }));
  t.same(JSON.parse(one.body), { purged: 1 });
  t.match((await ask(edge.port, '/pub/p1')).headers['cache-status'], /fwd=miss/);
  t.match((await ask(edge.port, '/pub/p2')).headers['cache-status'], /hit/);
  const many = await post(admin, '/cache/purge', JSON.stringify({ prefix: 'httpslocalhost/pub/' }));
  t.same(JSON.parse(many.body), { purged: 3 });
  t.match((await ask(edge.port, '/pub/q/1')).headers['cache-status'], /fwd=miss/);
  t.equal((await post(admin, '/cache/purge', 'nonsense')).status, 400);
  t.equal(hits(backend, '/pub/p1'), 2);
  const metrics = await adminGet(admin, '/metrics');
  t.match(metrics.body, /gatehouse_cache_requests_total\{result="hit"\} [1-9]/);
  t.match(metrics.body, /gatehouse_cache_memory_bytes [1-9]/);
});

t.test('revalidation: a 304 refreshes the entry and the client gets the stored body', async (t) => {
  const { edge, backend } = await setup(t);
  t.equal((await ask(edge.port, '/etag/a')).body, 'version 1');
  await sleep(1100);
  const again = await ask(edge.port, '/etag/a');
  t.equal(again.body, 'version 1');
  t.equal(again.headers['cache-status'], 'Gatehouse; fwd=stale; fwd-status=304');
  t.equal(again.headers['x-refreshed'], 'yes', 'the 304 updated the stored header block');
  const revalidation = backend.seen.filter((s) => s.url === '/etag/a')[1];
  t.equal(revalidation?.headers['if-none-match'], '"v1"');
  t.match((await ask(edge.port, '/etag/a')).headers['cache-status'], /hit/, 'fresh again');
  await sleep(1100);
  steer.version.set('/etag/a', 2);
  const changed = await ask(edge.port, '/etag/a');
  t.equal(changed.body, 'version 2', 'a changed resource replaces the entry');
});

t.test('useStale: error, http_500, must-revalidate is honoured', async (t) => {
  const { edge } = await setup(t);
  await ask(edge.port, '/short/500');
  await ask(edge.port, '/short/reset');
  await ask(edge.port, '/must/x');
  await sleep(1100);
  steer.fail.add('/short/500').add('/short/reset').add('/must/x');
  t.teardown(() => steer.fail.clear());
  const on500 = await ask(edge.port, '/short/500');
  t.equal(on500.status, 200);
  t.match(on500.body, /^short \/short\/500/);
  t.match(on500.headers['cache-status'], /fwd=stale; fwd-status=500; ttl=-\d+; detail=served-stale/);
  const onReset = await ask(edge.port, '/short/reset');
  t.equal(onReset.status, 200, 'a broken connection is answered with the stale entry');
  t.match(onReset.headers['cache-status'], /fwd=stale; ttl=-\d+; detail=EDGE_ERR_UPSTREAM/);
  const must = await ask(edge.port, '/must/x');
  t.equal(must.status, 500, 'must-revalidate: never served stale (RFC 9111 §4.2.4)');
});

t.test('useStale: timeout serves the stale entry when the upstream does not answer in time', async (t) => {
  const { edge } = await setup(t);
  t.match((await ask(edge.port, '/t/short/hang')).headers['cache-status'], /stored/);
  await sleep(1100);
  steer.fail.add('/t/short/hang');
  t.teardown(() => steer.fail.clear());
  const late = await ask(edge.port, '/t/short/hang');
  t.equal(late.status, 200);
  t.match(late.headers['cache-status'], /fwd=stale; ttl=-\d+; detail=EDGE_ERR_UPSTREAM_TIMEOUT/);
  t.equal(late.headers['x-rule'], 'on', 'the route\'s header rules apply to a stale answer too');
  const line = await edge.logs.next((l) => l.path === '/t/short/hang' && l.code === 'EDGE_ERR_UPSTREAM_TIMEOUT');
  t.ok(line, 'the log line still names the upstream failure');
  steer.fail.add('/t/short/hang-none');
  const none = await ask(edge.port, '/t/short/hang-none');
  t.equal(none.status, 504, 'nothing stored: the timeout is answered');
  t.equal(none.headers['cache-status'], 'Gatehouse; fwd=miss; detail=EDGE_ERR_UPSTREAM_TIMEOUT', 'a generated error says what the cache did too');
});

t.test('useStale: updating answers with the stale entry while one request refreshes it', async (t) => {
  const { edge, backend } = await setup(t);
  await ask(edge.port, '/upd/a');
  await sleep(1100);
  steer.fail.add('/upd/a');
  t.teardown(() => steer.fail.clear());
  const refreshing = ask(edge.port, '/upd/a');
  await waitFor(() => hits(backend, '/upd/a') === 2, 'the refresh upstream');
  const meanwhile = await ask(edge.port, '/upd/a');
  t.equal(meanwhile.body, 'upd #1', 'the stale answer, at once');
  t.match(meanwhile.headers['cache-status'], /hit; ttl=-\d+; detail=updating/);
  t.equal((await refreshing).body, 'upd #2');
  t.equal(hits(backend, '/upd/a'), 2);
});

t.test('hits are compressed per client from the stored identity body, under the route\'s header rules', async (t) => {
  const { edge, backend } = await setup(t);
  const first = await askRaw(edge.port, '/t/big', { 'accept-encoding': 'gzip' });
  t.equal(first.headers['content-encoding'], 'gzip');
  t.equal(backend.seen.find((s) => s.url === '/t/big')?.headers['accept-encoding'], undefined, 'the upstream is asked for the identity body');
  const gz = await askRaw(edge.port, '/t/big', { 'accept-encoding': 'gzip' });
  t.match(gz.headers['cache-status'], /hit/);
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.equal(gunzipSync(gz.body).toString(), 'compress me '.repeat(200));
  t.equal(gz.headers['x-rule'], 'on');
  const identity = await askRaw(edge.port, '/t/big');
  t.match(identity.headers['cache-status'], /hit/);
  t.equal(identity.headers['content-encoding'], undefined);
  t.equal(identity.body.toString(), 'compress me '.repeat(200));
  t.equal(hits(backend, '/t/big'), 1);
});

t.test('lock: concurrent misses on one key send one request upstream', async (t) => {
  const { edge, backend } = await setup(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 20, ca: (await testCerts()).caPem });
  t.teardown(() => agent.destroy());
  const answers = await Promise.all(Array.from({ length: 20 }, () => ask(edge.port, '/slow/lock', {}, 'GET', agent)));
  t.ok(answers.every((a) => a.body === 'slow /slow/lock'));
  t.equal(hits(backend, '/slow/lock'), 1, 'one upstream request for 20 concurrent misses');
  t.equal(answers.filter((a) => /fwd=miss/.test(String(a.headers['cache-status']))).length, 1);
});

t.test('stale-while-revalidate: the stale answer goes out at once and one request refreshes it', async (t) => {
  const { edge, backend } = await setup(t);
  await ask(edge.port, '/swr/a');
  await sleep(1100);
  const stale = await ask(edge.port, '/swr/a');
  t.equal(stale.body, 'swr #1');
  t.match(stale.headers['cache-status'], /hit; ttl=-\d+; detail=stale-while-revalidate/);
  await waitFor(() => hits(backend, '/swr/a') === 2, 'the background refresh');
  await waitFor(async () => (await ask(edge.port, '/swr/a')).body === 'swr #2', 'the refreshed entry');
});

t.test('a 10,000-request mixed-user run never hands one user another user\'s answer', async (t) => {
  const { edge } = await setup(t);
  const agent = new Agent({ keepAlive: true, maxSockets: 32, ca: (await testCerts()).caPem });
  t.teardown(() => agent.destroy());
  const users = Array.from({ length: 20 }, (_, i) => `u${i}`);
  const paths = ['/account.css', '/private/p', '/no-store/p', '/set-cookie/p', '/pub/shared', '/plain/shared', '/account/x.css'];
  let leaks = 0;
  let done = 0;
  let hitsSeen = 0;
  const total = 10_000;
  const deadline = Date.now() + 120_000;
  async function worker(w: number): Promise<void> {
    for (let i = w; i < total && Date.now() < deadline; i += 32) {
      const user = users[i % users.length] as string;
      const anonymous = i % 7 === 0;
      // Independent of `anonymous` (i % 7): every path is asked with and without credentials.
      const path = paths[Math.floor(i / 7) % paths.length] as string;
      const a = await ask(edge.port, path, anonymous ? {} : { cookie: `user=${user}` }, 'GET', agent);
      const named = /(?:of|welcome) (\w+)/.exec(a.body)?.[1] ?? /secret-(\w+)/.exec(a.body)?.[1];
      if (named !== undefined && named !== (anonymous ? 'anonymous' : user)) leaks++;
      if (/hit/.test(String(a.headers['cache-status']))) hitsSeen++;
      done++;
    }
  }
  await Promise.all(Array.from({ length: 32 }, (_, w) => worker(w)));
  t.equal(done, total, 'every request answered within the bound');
  t.equal(leaks, 0, 'zero cross-user leaks');
  t.ok(hitsSeen > total / 10, `shared answers were served from the cache (${hitsSeen} hits)`);
});

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 3000): Promise<void> {
  for (const start = Date.now(); Date.now() - start < ms; await sleep(25)) if (await check()) return;
  throw new Error(`timed out waiting for ${what}`);
}

function post(port: number, path: string, body: string): Promise<Answer> {
  return plain(port, path, 'POST', body);
}

function adminGet(port: number, path: string): Promise<Answer> {
  return plain(port, path, 'GET', undefined);
}

function plain(port: number, path: string, method: string, body: string | undefined): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function askRaw(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}
