// Response header rules (DESIGN 23) on every answer of a route, not only proxied ones: a files
// route's 200/206/304/301/404, the site's error pages, guard refusals (nginx's `add_header …
// always`), X-Accel-Redirect answers (the requesting route's rules), h1 and h2 alike. And a
// rule's `Cache-Control: no-transform` stops the route's own `compress` (RFC 9110 §7.7).
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import t from 'tap';
import { startEdge, tempDir } from './helpers/edge.js';
import { makeTree } from './helpers/files.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { deadPort, get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

type Tap = Parameters<typeof startBackend>[0];

const IMMUTABLE = 'public, max-age=31536000, immutable';
const HTML = `<p>${'compressible text '.repeat(200)}</p>`;

async function setup(t: Tap) {
  const tree = makeTree(t);
  const dir = tempDir(t, 'gatehouse-pages-');
  mkdirSync(join(dir, 'errors'));
  writeFileSync(join(dir, 'errors', '404.html'), '<h1>lost</h1>\n');
  writeFileSync(join(dir, 'errors', '502.html'), '<h1>down</h1>\n');
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/download/about') return void res.writeHead(200, { 'x-accel-redirect': '/system/about.html', 'x-custom': 'kept' }).end('not a file');
    res.writeHead(200, { 'content-type': 'text/html' }).end(HTML);
  });
  const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${backend.address}"] }
  dead: { targets: ["127.0.0.1:${await deadPort()}"] }
rateLimits:
  tight: { rate: 1/m, burst: 0 }
sites:
  - hosts: [localhost]
    errorPages: { 404: "${dir}/errors/404.html", 502: "${dir}/errors/502.html" }
    headers:
      response: { set: { X-Frame-Options: SAMEORIGIN } }
    routes:
      - path: /packs/
        files: { root: "${tree.root}", stripPrefix: true }
        headers:
          response:
            - { set: { Cache-Control: "${IMMUTABLE}" }, statuses: success }
            - { set: { X-Missing: "{path}" }, statuses: [404] }
      - { path: /denied/, files: { root: "${tree.root}", stripPrefix: true }, access: { deny: [127.0.0.0/8] } }
      - { path: /limited/, upstream: app, rateLimit: tight }
      - { path: /system/, internal: true, files: { root: "${tree.root}", stripPrefix: true } }
      - path: /download/
        upstream: app
        headers: { response: { set: { X-Download: "yes" }, remove: [X-Custom] } }
      - path: /dead/
        upstream: dead
        headers: { response: { set: { X-Down: "{path}" }, statuses: [502] } }
      - path: /fallback/
        files: { root: "${tree.root}", stripPrefix: true, fallback: app }
        headers: { response: { set: { X-Route: fallback } } }
      - { path: /small/, upstream: app, limits: { bodySize: 10 } }
      - path: /plain/
        upstream: app
        compress: true
      - path: /nt/
        upstream: app
        compress: true
        headers: { response: { set: { Cache-Control: no-transform } } }
      - path: /ntfiles/
        files: { root: "${tree.root}", stripPrefix: true }
        compress: true
        headers: { response: { set: { Cache-Control: "public, no-transform" } } }
`);
  return { edge, tree };
}

/** What one answer looks like to either protocol. */
interface Seen {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

type Ask = (path: string, headers?: Record<string, string>) => Promise<Seen>;

async function askers(t: Tap, port: number): Promise<Record<'h1' | 'h2', Ask>> {
  const session = await h2Session(t, port);
  return {
    h1: (path, headers = {}) => get(port, path, { headers }),
    h2: (path, headers = {}) => h2Request(session, { ':path': path, ...headers }),
  };
}

t.test('a files route\'s 200, 206, 304, 301 and 404 (an error page) carry the site\'s and the route\'s rules per their statuses', async (t) => {
  const { edge } = await setup(t);
  const ask = await askers(t, edge.port);
  for (const protocol of ['h1', 'h2'] as const) {
    const a = ask[protocol];
    const ok = await a('/packs/about.html');
    t.equal(ok.status, 200, `${protocol} 200`);
    t.equal(ok.body, '<h1>about</h1>\n');
    t.equal(ok.headers['cache-control'], IMMUTABLE, `${protocol} 200: the route's success rule`);
    t.equal(ok.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 200: the site's rule`);
    t.equal(ok.headers['x-missing'], undefined, `${protocol} 200: a 404-only rule is not applied`);
    t.match(ok.headers['strict-transport-security'], /max-age=/);

    const big = await a('/packs/big.bin');
    t.equal(big.status, 200, `${protocol} a streamed file`);
    t.equal(big.headers['cache-control'], IMMUTABLE, `${protocol} streamed 200: the route's rule`);

    const part = await a('/packs/about.html', { range: 'bytes=0-3' });
    t.equal(part.status, 206);
    t.equal(part.body, '<h1>');
    t.equal(part.headers['cache-control'], IMMUTABLE, `${protocol} 206`);

    const etag = ok.headers.etag as string;
    const same = await a('/packs/about.html', { 'if-none-match': etag });
    t.equal(same.status, 304, `${protocol} 304`);
    t.equal(same.headers['cache-control'], IMMUTABLE, `${protocol} 304: success covers it`);
    t.equal(same.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 304: the site's rule`);
    t.equal(same.headers.etag, etag, 'the validator is kept');

    const dir = await a('/packs/sub');
    t.equal(dir.status, 301, `${protocol} the slash 301`);
    t.equal(dir.headers.location, '/packs/sub/');
    t.equal(dir.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 301`);
    t.equal(dir.headers['cache-control'], IMMUTABLE, `${protocol} 301: success covers it`);

    const lost = await a('/packs/nope.html');
    t.equal(lost.status, 404, `${protocol} 404`);
    t.equal(lost.body, '<h1>lost</h1>\n', 'the site\'s error page');
    t.equal(lost.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} error page: the site's rule`);
    t.equal(lost.headers['x-missing'], '/packs/nope.html', `${protocol} error page: the route's 404 rule, placeholders expanded`);
    t.equal(lost.headers['cache-control'], 'no-store', `${protocol} error page: a success rule does not apply to a 404`);
    t.equal((await edge.logs.next((l) => l.status === 404 && l.protocol === (protocol === 'h1' ? 'http/1.1' : 'h2')))?.code, 'EDGE_ERR_FILE_NOT_FOUND');
  }
});

t.test('guard refusals (403, 429) carry the site\'s rules, always, on h1 and h2', async (t) => {
  const { edge } = await setup(t);
  const ask = await askers(t, edge.port);
  for (const protocol of ['h1', 'h2'] as const) {
    const denied = await ask[protocol]('/denied/about.html');
    t.equal(denied.status, 403, `${protocol} 403`);
    t.equal(denied.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 403: the site's rule`);
    t.match(denied.headers['strict-transport-security'], /max-age=/);
    t.equal((await edge.logs.next((l) => l.status === 403))?.code, 'EDGE_ERR_ACCESS_DENIED');
  }
  const first = await ask.h1('/limited/x');
  t.equal(first.status, 200, 'the one request the rate allows');
  t.equal(first.headers['x-frame-options'], 'SAMEORIGIN', 'proxied: the site\'s rule');
  for (const protocol of ['h1', 'h2'] as const) {
    const limited = await ask[protocol]('/limited/x');
    t.equal(limited.status, 429, `${protocol} 429`);
    t.equal(limited.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 429: the site's rule`);
    t.equal((await edge.logs.next((l) => l.status === 429 && l.protocol === (protocol === 'h1' ? 'http/1.1' : 'h2')))?.code, 'EDGE_ERR_RATE_LIMITED');
  }
});

t.test('an X-Accel-Redirect answer carries the requesting route\'s rules, over the upstream\'s kept headers', async (t) => {
  const { edge } = await setup(t);
  const ask = await askers(t, edge.port);
  for (const protocol of ['h1', 'h2'] as const) {
    const file = await ask[protocol]('/download/about');
    t.equal(file.status, 200, `${protocol} 200`);
    t.equal(file.body, '<h1>about</h1>\n', 'the internal route\'s file');
    t.equal(file.headers['x-download'], 'yes', `${protocol}: the requesting route's rule`);
    t.equal(file.headers['x-custom'], undefined, `${protocol}: its remove applies to the upstream's kept headers`);
    t.equal(file.headers['x-frame-options'], 'SAMEORIGIN', `${protocol}: the site's rule`);
  }
});

t.test('a rule adding Cache-Control: no-transform stops the route\'s compress, proxied and files', async (t) => {
  const { edge } = await setup(t);
  const ask = await askers(t, edge.port);
  for (const protocol of ['h1', 'h2'] as const) {
    const a = ask[protocol];
    const plain = await a('/plain/x', { 'accept-encoding': 'gzip' });
    t.equal(plain.headers['content-encoding'], 'gzip', `${protocol}: without the rule the answer is compressed (the control)`);
    const nt = await a('/nt/x', { 'accept-encoding': 'gzip' });
    t.equal(nt.headers['cache-control'], 'no-transform');
    t.equal(nt.headers['content-encoding'], undefined, `${protocol}: proxied, not compressed`);
    t.equal(nt.body, HTML);
    const file = await a('/ntfiles/data.json', { 'accept-encoding': 'gzip' });
    t.equal(file.status, 200);
    t.equal(file.headers['cache-control'], 'public, no-transform');
    t.equal(file.headers['content-encoding'], undefined, `${protocol}: a file, not compressed`);
    t.match(file.body, /^\{"items":/);
  }
});

t.test('a 502 error page and a files route\'s fallback to its upstream carry the route\'s rules', async (t) => {
  const { edge } = await setup(t);
  const ask = await askers(t, edge.port);
  for (const protocol of ['h1', 'h2'] as const) {
    const down = await ask[protocol]('/dead/x');
    t.equal(down.status, 502, `${protocol} 502`);
    t.equal(down.body, '<h1>down</h1>\n', 'the site\'s page');
    t.equal(down.headers['x-down'], '/dead/x', `${protocol} 502 page: the route's rule`);
    t.equal(down.headers['x-frame-options'], 'SAMEORIGIN', `${protocol} 502 page: the site's rule`);
    // Refused at connect, or already marked down by the earlier refusal (passive health).
    t.match((await edge.logs.next((l) => l.status === 502 && l.protocol === (protocol === 'h1' ? 'http/1.1' : 'h2')))?.code, /^EDGE_ERR_(UPSTREAM_CONNECT|NO_HEALTHY_TARGET)$/);
    const proxied = await ask[protocol]('/fallback/not-a-file');
    t.equal(proxied.body, HTML, `${protocol}: the upstream answered`);
    t.equal(proxied.headers['x-route'], 'fallback', `${protocol} fallback: the route's rule`);
    const file = await ask[protocol]('/fallback/about.html');
    t.equal(file.headers['x-route'], 'fallback', `${protocol} file: the route's rule`);
  }
});

t.test('refusals before the upstream (413, 417) carry the route\'s rules', async (t) => {
  const { edge } = await setup(t);
  const big = 'x'.repeat(100);
  const h1 = await get(edge.port, '/small/', { method: 'POST', body: big, headers: { 'content-length': String(big.length) } });
  t.equal(h1.status, 413, 'h1 413');
  t.equal(h1.headers['x-frame-options'], 'SAMEORIGIN', 'h1 413: the site\'s rule');
  const h2 = await h2Request(await h2Session(t, edge.port), { ':path': '/small/', ':method': 'POST', 'content-length': String(big.length) }, big);
  t.equal(h2.status, 413, 'h2 413');
  t.equal(h2.headers['x-frame-options'], 'SAMEORIGIN', 'h2 413: the site\'s rule');
  const expect = await get(edge.port, '/limited/x', { headers: { expect: 'something-else' } });
  t.equal(expect.status, 417, 'h1 417');
  t.equal(expect.headers['x-frame-options'], 'SAMEORIGIN', 'h1 417: the site\'s rule');
});
