// Client conditionals answered from the cache (RFC 9110 §13.2.2, §15.4.5; RFC 9111 §4.3.2):
// a fresh entry that matches If-None-Match / If-Modified-Since gives a 304 without going
// upstream, over real TLS with a real loopback upstream counting what reaches it.
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import t from 'tap';
import { HSTS, startEdge } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { get, parseRaw, rawTls, startBackend, type Backend } from './helpers/net.js';

const MODIFIED = 'Tue, 01 Dec 2026 10:00:00 GMT';
const OLDER = 'Mon, 30 Nov 2026 10:00:00 GMT';
const NEWER = 'Wed, 02 Dec 2026 10:00:00 GMT';

/** Upstream: every path answers with the validators its prefix names; it honours If-None-Match itself. */
function app(req: IncomingMessage, res: ServerResponse): void {
  const path = (req.url ?? '/').split('?')[0] ?? '/';
  if (path.startsWith('/nc/')) return void res.writeHead(204, { 'cache-control': 'max-age=60' }).end();
  const etag = path.startsWith('/weak/') ? 'W/"w1"' : path.startsWith('/lm/') ? undefined : '"e1"';
  const cc = path.startsWith('/private/') ? 'private, max-age=60' : path.startsWith('/stale/') ? 'max-age=1' : 'max-age=60';
  const validators: Record<string, string> = { 'last-modified': MODIFIED, ...(etag === undefined ? {} : { etag }) };
  if (etag !== undefined && req.headers['if-none-match'] === etag) {
    res.writeHead(304, { ...validators, 'cache-control': path.startsWith('/stale/') ? 'max-age=60' : cc, 'x-origin-304': 'yes' }).end();
    return;
  }
  res.writeHead(200, {
    ...validators, 'cache-control': cc, 'content-type': 'text/plain', expires: 'Thu, 31 Dec 2026 10:00:00 GMT',
    vary: 'Accept-Language', 'content-location': `${path}.txt`, 'x-extra': 'not on a 304',
  }).end(path.startsWith('/z/') ? 'compress me '.repeat(200) : `body of ${path}`);
}

const backend: Backend = await startBackend(t, app);
const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0", admin: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend.address}"] }
cache: { memory: 8m }
sites:
  - hosts: [localhost]
    routes:
      - path: /uncached/
        upstream: app
      - path: /z/
        upstream: app
        compress: true
        cache: true
      - path: /
        upstream: app
        cache: true
`);

function upstreamSaw(path: string): number {
  return backend.seen.filter((s) => s.url === path).length;
}

/** Fill the entry, then ask again with `headers`. */
async function conditional(path: string, headers: Record<string, string>, method = 'GET'): Promise<Awaited<ReturnType<typeof get>>> {
  const first = await get(edge.port, path);
  t.equal(first.status, 200, `${path} filled`);
  return get(edge.port, path, { method, headers });
}

t.test('If-None-Match matching a fresh entry: 304 from the cache with the §15.4.5 fields and no body', async (t) => {
  const r = await conditional('/e/a', { 'if-none-match': '"e1"' });
  t.equal(r.status, 304);
  t.equal(r.body, '');
  t.equal(upstreamSaw('/e/a'), 1, 'the 304 did not go upstream');
  t.match(r.headers['cache-status'], /^Gatehouse; hit; ttl=\d+$/);
  t.equal(r.headers.etag, '"e1"');
  t.equal(r.headers['cache-control'], 'max-age=60');
  t.equal(r.headers.expires, 'Thu, 31 Dec 2026 10:00:00 GMT');
  t.equal(r.headers.vary, 'Accept-Language');
  t.equal(r.headers['content-location'], '/e/a.txt');
  t.ok(r.headers.date, 'Date');
  t.match(r.headers.age, /^\d+$/, 'Age (RFC 9111 §5.1)');
  t.equal(r.headers['strict-transport-security'], HSTS);
  t.equal(r.headers['last-modified'], undefined, 'no Last-Modified beside an ETag');
  t.equal(r.headers['content-type'], undefined, 'no representation metadata');
  t.equal(r.headers['x-extra'], undefined);
  t.equal(r.headers['content-length'], undefined);
  // The bytes on the wire: the 304's head is followed directly by the next pipelined answer.
  const raw = await rawTls(edge.port, 'GET /e/a HTTP/1.1\r\nHost: localhost\r\nIf-None-Match: "e1"\r\n\r\nGET /e/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
  const first = parseRaw(raw);
  t.equal(first.status, 304);
  t.match(first.body, /^HTTP\/1\.1 200 /, 'nothing between the 304 head and the next answer');
  t.equal(upstreamSaw('/e/a'), 1);
});

t.test('weak comparison, lists and *', async (t) => {
  t.equal((await conditional('/weak/a', { 'if-none-match': '"w1"' })).status, 304, '"w1" matches W/"w1"');
  const miss = await get(edge.port, '/e/b', { headers: { 'if-none-match': 'W/"e1"' } });
  t.equal(miss.status, 304, 'a miss: the whole answer is fetched and stored, and W/"e1" matches its "e1"');
  t.match(miss.headers['cache-status'], /fwd=miss; fwd-status=200; stored/);
  t.equal((await get(edge.port, '/e/b', { headers: { 'if-none-match': 'W/"e1"' } })).status, 304, 'W/"e1" matches "e1"');
  t.equal((await get(edge.port, '/e/b', { headers: { 'if-none-match': '"x", "y,z", W/"e1"' } })).status, 304, 'a list (a comma inside a tag)');
  t.equal((await get(edge.port, '/e/b', { headers: { 'if-none-match': '"x", "e1 "' } })).status, 200, 'no tag of the list matches');
  t.equal((await get(edge.port, '/e/b', { headers: { 'if-none-match': 'e1' } })).status, 200, 'an unquoted tag matches nothing');
  t.equal((await get(edge.port, '/e/b', { headers: { 'if-none-match': '*' } })).status, 304, '* matches any stored answer');
  const lm = await conditional('/lm/a', { 'if-none-match': '*' });
  t.equal(lm.status, 304, '* matches an answer without an ETag');
  t.equal(lm.headers['last-modified'], MODIFIED, 'Last-Modified where there is no ETag');
  t.equal(upstreamSaw('/e/b'), 1);
});

t.test('If-Modified-Since: equal and newer are 304, older is 200; If-None-Match wins over it', async (t) => {
  t.equal((await conditional('/lm/b', { 'if-modified-since': MODIFIED })).status, 304, 'equal');
  t.equal((await get(edge.port, '/lm/b', { headers: { 'if-modified-since': NEWER } })).status, 304, 'newer');
  const older = await get(edge.port, '/lm/b', { headers: { 'if-modified-since': OLDER } });
  t.equal(older.status, 200, 'older: the full answer');
  t.equal(older.body, 'body of /lm/b');
  t.equal((await get(edge.port, '/lm/b', { headers: { 'if-modified-since': 'yesterday' } })).status, 200, 'not a date: ignored');
  t.equal((await conditional('/e/c', { 'if-none-match': '"other"', 'if-modified-since': NEWER })).status, 200, 'If-None-Match present: If-Modified-Since is not looked at');
  t.equal((await get(edge.port, '/e/c', { headers: { 'if-none-match': '"e1"', 'if-modified-since': OLDER } })).status, 304, 'matching If-None-Match wins over an older date');
  t.equal((await get(edge.port, '/e/c', { headers: { 'if-none-match': '"e1"', 'if-match': '"zzz"' } })).status, 200, 'If-Match is the origin\'s: no 304 from the cache');
  t.equal(upstreamSaw('/lm/b') + upstreamSaw('/e/c'), 2);
});

t.test('a compressed route: the 304 names the weakened ETag and the Vary its 200 has', async (t) => {
  const gzip = { 'accept-encoding': 'gzip' };
  await get(edge.port, '/z/a');
  const full = await get(edge.port, '/z/a', { headers: gzip });
  t.equal(full.headers['content-encoding'], 'gzip');
  t.equal(full.headers.etag, 'W/"e1"', 'compress/policy.ts weakens it on the 200');
  const r = await get(edge.port, '/z/a', { headers: { ...gzip, 'if-none-match': full.headers.etag ?? '' } });
  t.equal(r.status, 304);
  t.equal(r.headers.etag, 'W/"e1"', 'the same ETag as the 200');
  t.equal(r.headers.vary, 'Accept-Language, Accept-Encoding');
  const identity = await get(edge.port, '/z/a', { headers: { 'accept-encoding': 'identity', 'if-none-match': '"e1"' } });
  t.equal(identity.status, 304);
  t.equal(identity.headers.etag, '"e1"', 'not encoded for this client: the strong ETag');
  t.equal(upstreamSaw('/z/a'), 1);
});

t.test('HEAD gets the 304 too, and so does an h2 GET', async (t) => {
  const r = await conditional('/e/head', { 'if-none-match': '"e1"' }, 'HEAD');
  t.equal(r.status, 304);
  t.match(r.headers['cache-status'], /hit/);
  const h2 = await h2Get(t, edge.port, { ':path': '/e/head', 'if-none-match': '"e1"' });
  t.equal(h2.status, 304);
  t.equal(h2.body, '');
  t.equal(h2.headers.etag, '"e1"');
  t.match(h2.headers['cache-status'], /hit/);
  t.equal(upstreamSaw('/e/head'), 1);
});

t.test('a private answer is not stored, and its conditional is answered from the upstream\'s whole answer; an uncached route passes validators on', async (t) => {
  const priv = await conditional('/private/a', { 'if-none-match': '"e1"' });
  t.equal(priv.status, 304);
  t.equal(priv.headers['x-origin-304'], undefined, 'the client\'s validators did not go upstream');
  t.equal(priv.headers['cache-status'], 'Gatehouse; fwd=miss; fwd-status=200; detail=private');
  t.equal(priv.headers.etag, '"e1"');
  t.equal(priv.headers['cache-control'], 'private, max-age=60');
  t.equal(priv.headers['content-type'], undefined, 'a 304\'s fields only');
  t.equal(priv.headers['strict-transport-security'], HSTS);
  t.equal(upstreamSaw('/private/a'), 2);
  const other = await get(edge.port, '/private/a', { headers: { 'if-none-match': '"other"' } });
  t.equal(other.status, 200, 'not matching: the upstream\'s answer as it is');
  t.equal(other.body, 'body of /private/a');
  const plain = await conditional('/uncached/a', { 'if-none-match': '"e1"' });
  t.equal(plain.headers['x-origin-304'], 'yes');
  t.equal(plain.headers['cache-status'], undefined);
  t.equal(upstreamSaw('/uncached/a'), 2);
});

t.test('a stale entry revalidated upstream answers the client 304 when its validators match', async (t) => {
  await get(edge.port, '/stale/a');
  await new Promise((resolve) => setTimeout(resolve, 1100));
  const r = await get(edge.port, '/stale/a', { headers: { 'if-none-match': '"e1"' } });
  t.equal(r.status, 304);
  t.equal(r.headers['cache-status'], 'Gatehouse; fwd=stale; fwd-status=304');
  t.equal(r.headers['cache-control'], 'max-age=60', 'the refreshed entry\'s fields');
  t.equal(r.headers['x-origin-304'], undefined, 'the cache\'s 304, built from the entry');
  t.equal(upstreamSaw('/stale/a'), 2);
  const after = await get(edge.port, '/stale/a', { headers: { 'if-none-match': '"nope"' } });
  t.equal(after.status, 200);
  t.equal(after.body, 'body of /stale/a', 'not matching: the full answer from the refreshed entry');
});

t.test('a stored 204 is replayed without Content-Length (RFC 9110 §8.6)', async (t) => {
  await get(edge.port, '/nc/a');
  const raw = parseRaw(await rawTls(edge.port, 'GET /nc/a HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
  t.equal(raw.status, 204);
  t.match(raw.headers.get('cache-status')?.[0], /hit/);
  t.equal(raw.headers.get('content-length'), undefined);
  t.equal(upstreamSaw('/nc/a'), 1);
});

t.test('a miss that carries the client\'s validators fetches and stores the whole answer, and answers the client 304 from it (nginx)', async (t) => {
  const first = await get(edge.port, '/e/never', { headers: { 'if-none-match': '"e1"' } });
  t.equal(first.status, 304);
  t.equal(first.body, '');
  t.equal(first.headers['x-origin-304'], undefined, 'the upstream never saw the client\'s If-None-Match');
  t.equal(first.headers['cache-status'], 'Gatehouse; fwd=miss; fwd-status=200; stored');
  t.equal(first.headers.etag, '"e1"');
  t.equal(first.headers['content-length'], undefined);
  const next = await get(edge.port, '/e/never');
  t.equal(next.status, 200, 'the next client gets the stored whole answer');
  t.equal(next.body, 'body of /e/never');
  t.match(next.headers['cache-status'], /^Gatehouse; hit/);
  t.equal(upstreamSaw('/e/never'), 1);
  const since = await get(edge.port, '/lm/never', { headers: { 'if-modified-since': NEWER } });
  t.equal(since.status, 304, 'If-Modified-Since on a miss, against the answer\'s Last-Modified');
  t.equal(since.headers['last-modified'], MODIFIED);
  const older = await get(edge.port, '/lm/never2', { headers: { 'if-modified-since': OLDER } });
  t.equal(older.status, 200, 'an older date: the whole answer, stored');
  t.equal(older.body, 'body of /lm/never2');
  t.match((await get(edge.port, '/lm/never2')).headers['cache-status'], /^Gatehouse; hit/, 'then a hit');
  const head = await get(edge.port, '/e/never-head', { method: 'HEAD', headers: { 'if-none-match': '"e1"' } });
  t.equal(head.status, 304, 'HEAD too');
  t.equal(head.headers['x-origin-304'], undefined);
  const matched = await get(edge.port, '/e/if-match', { headers: { 'if-none-match': '"e1"', 'if-match': '"e1"' } });
  t.equal(matched.headers['x-origin-304'], 'yes', 'with If-Match every conditional is the origin\'s (RFC 9110 §13.2.2)');
});

t.test('a 304 to a miss is answered as the whole answer streams in, and the entry is whole', async (t) => {
  const first = await get(edge.port, '/z/big', { headers: { 'if-none-match': '"e1"', 'accept-encoding': 'gzip' } });
  t.equal(first.status, 304);
  t.equal(first.headers.etag, 'W/"e1"', 'the ETag its compressed 200 has');
  const full = await get(edge.port, '/z/big');
  t.equal(full.body, 'compress me '.repeat(200), 'stored whole');
  t.match(full.headers['cache-status'], /^Gatehouse; hit/);
  t.equal(upstreamSaw('/z/big'), 1);
});

t.test('hits and 304s from the cache record no upstream response time: the histogram counts what reached the upstream', async (t) => {
  await get(edge.port, '/e/metrics');
  for (let i = 0; i < 3; i++) await get(edge.port, '/e/metrics', { headers: i === 0 ? { 'if-none-match': '"e1"' } : {} });
  const admin = edge.addresses.admin?.port ?? 0;
  const text = await new Promise<string>((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port: admin, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (c: string) => { body += c; }).on('end', () => resolve(body));
    });
    req.on('error', reject).end();
  });
  const count = /gatehouse_upstream_response_seconds_count\{upstream="app"\} (\d+)/.exec(text)?.[1];
  t.equal(Number(count), backend.seen.length, 'one observation per request the upstream saw');
});
