// Static files (DESIGN 24, issue 22): correct answers by the book on h1 and h2.
import { request as httpsRequest } from 'node:https';
import { writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import type { IncomingHttpHeaders } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http2';
import t from 'tap';
import { startEdge, HSTS } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { h2Session } from './helpers/h2.js';
import { makeTree } from './helpers/files.js';
import { startBackend } from './helpers/upstream.js';

interface Answer { status: number; headers: IncomingHttpHeaders; body: Buffer }

async function h1(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, method, servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end();
  });
}

type Ask = (path: string, headers?: Record<string, string>, method?: string) => Promise<Answer>;

async function h2Asker(t: { teardown(fn: () => unknown): void }, port: number): Promise<Ask> {
  const session = await h2Session(t, port);
  return (path, headers = {}, method = 'GET') => new Promise((resolve, reject) => {
    // A body with its length: an empty DATA frame with END_STREAM after HEADERS is another case (lead told).
    const body = method === 'GET' || method === 'HEAD' ? undefined : 'x';
    const stream = session.request({ ':path': path, ':method': method, ':authority': 'localhost', ...(body === undefined ? {} : { 'content-length': '1' }), ...headers } as OutgoingHttpHeaders);
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => { head = h as IncomingHttpHeaders; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks) }));
    stream.on('error', reject);
    stream.end(body);
  });
}

const config = (root: string, backend: string): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /, files: { root: "${root}", precompressed: [br, gzip] } }
      - { path: /spa/, files: { root: "${root}", stripPrefix: true, tryFiles: ["{path}", "{path}.html", "{path}/"], fallback: app } }
      - { path: /plain/, files: { root: "${root}", stripPrefix: true } }
      - { path: /api/, upstream: app }
`;

for (const protocol of ['h1', 'h2'] as const) {
  t.test(`${protocol}: files are served by the book`, async (t) => {
    const tree = makeTree(t);
    const backend = await startBackend(t);
    const edge = await startEdge(t, config(tree.root, backend.address));
    const ask: Ask = protocol === 'h1' ? (p, h, m) => h1(edge.port, p, h, m) : await h2Asker(t, edge.port);

    const page = await ask('/about.html');
    t.equal(page.status, 200);
    t.equal(page.body.toString(), '<h1>about</h1>\n');
    t.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(page.headers['content-length'], '15');
    t.equal(page.headers['accept-ranges'], 'bytes');
    t.match(page.headers.etag, /^"[0-9a-f]+-f"$/);
    t.type(page.headers['last-modified'], 'string');
    t.equal(page.headers['strict-transport-security'], HSTS);
    t.equal(page.headers.vary, 'Accept-Encoding', 'a precompressed route varies');

    const head = await ask('/about.html', {}, 'HEAD');
    t.equal(head.status, 200);
    t.equal(head.body.length, 0);
    t.equal(head.headers['content-length'], '15');

    t.equal((await ask('/data.json')).headers['content-type'], 'application/json; charset=utf-8');
    t.equal((await ask('/big.bin')).headers['content-type'], 'application/octet-stream');
    const pct = await ask('/100%25.txt');
    t.equal(pct.status, 200, 'an encoded "%" names the file "100%.txt"');

    const etag = page.headers.etag as string;
    t.equal((await ask('/about.html', { 'if-none-match': etag })).status, 304);
    t.equal((await ask('/about.html', { 'if-none-match': `"x", W/${etag}` })).status, 304, 'weak comparison for If-None-Match');
    t.equal((await ask('/about.html', { 'if-modified-since': page.headers['last-modified'] as string })).status, 304);
    t.equal((await ask('/about.html', { 'if-none-match': '"other"', 'if-modified-since': page.headers['last-modified'] as string })).status, 200, 'If-None-Match wins over If-Modified-Since');
    t.equal((await ask('/about.html', { 'if-match': '"other"' })).status, 412);

    const range = await ask('/big.bin', { range: 'bytes=1000-1999' });
    t.equal(range.status, 206);
    t.equal(range.headers['content-range'], `bytes 1000-1999/${tree.big.length}`);
    t.ok(range.body.equals(tree.big.subarray(1000, 2000)), 'the range, byte for byte');
    // Larger than one read (h1 reads through two reused 64 KB buffers): every byte in its place.
    t.ok((await ask('/big.bin')).body.equals(tree.big), 'the whole 3 MB file, byte for byte');
    const wide = await ask('/big.bin', { range: 'bytes=100001-2999998' });
    t.ok(wide.body.equals(tree.big.subarray(100001, 2999999)), 'a range of many reads, byte for byte');
    const suffix = await ask('/big.bin', { range: 'bytes=-10' });
    t.ok(suffix.body.equals(tree.big.subarray(tree.big.length - 10)));
    const open = await ask('/big.bin', { range: `bytes=${tree.big.length - 5}-` });
    t.equal(open.body.length, 5);
    const unsat = await ask('/big.bin', { range: `bytes=${tree.big.length}-` });
    t.equal(unsat.status, 416);
    t.equal(unsat.headers['content-range'], `bytes */${tree.big.length}`);
    t.equal((await ask('/big.bin', { range: 'bytes=0-1, 5-6' })).status, 200, 'several ranges: the whole file');
    const big = await ask('/big.bin', { range: 'bytes=0-9', 'if-range': '"stale"' });
    t.equal(big.status, 200, 'If-Range that does not match: the whole file');
    t.ok(big.body.equals(tree.big), 'the whole file, byte for byte');
    t.equal((await ask('/big.bin', { range: 'bytes=0-9', 'if-range': big.headers.etag as string })).status, 206);

    const dir = await ask('/sub?x=1');
    t.equal(dir.status, 301);
    t.equal(dir.headers.location, '/sub/?x=1');
    t.equal((await ask('/sub/')).body.toString(), '<h1>sub</h1>\n');
    t.equal((await ask('/')).body.toString(), '<h1>home</h1>\n');
    t.equal((await ask('/sub/empty/')).status, 404, 'no listings');
    t.equal((await ask('/nothing.html')).status, 404);
    t.equal((await ask('/about.html', {}, 'POST')).status, 405);

    const br = await ask('/app.js', { 'accept-encoding': 'gzip, br' });
    t.equal(br.headers['content-encoding'], 'br');
    t.equal(br.headers['content-type'], 'text/javascript; charset=utf-8', 'RFC 9239');
    t.equal(br.headers.vary, 'Accept-Encoding');
    const gz = await ask('/app.js', { 'accept-encoding': 'gzip;q=1, br;q=0.5' });
    t.equal(gz.headers['content-encoding'], 'gzip', 'q-values decide');
    t.not(gz.headers.etag, br.headers.etag, 'each representation has its own ETag');
    const plain = await ask('/app.js', { 'accept-encoding': 'identity' });
    t.equal(plain.headers['content-encoding'], undefined);
    t.equal(plain.body.toString().slice(0, 11), 'console.log');

    // tryFiles with a fallback upstream (nginx `try_files $uri $uri.html $uri/ @app`), with stripPrefix (`alias`).
    t.equal((await ask('/spa/about')).body.toString(), '<h1>about</h1>\n');
    t.equal((await ask('/spa/sub/')).body.toString(), '<h1>sub</h1>\n');
    const fell = await ask('/spa/dashboard/42?q=1');
    t.equal(fell.status, 200);
    t.match(fell.body.toString(), /^ok from/);
    t.equal(backend.seen.at(-1)?.url, '/spa/dashboard/42?q=1', 'the fallback gets the request as sent');
    t.equal((await ask('/spa/about.html', {}, 'POST')).status, 200, 'other methods go to the fallback');
    t.equal((await ask('/plain/about.html')).status, 200, 'stripPrefix: /plain/x is ROOT/x');

    // Files are opened per request: a changed file is served at once.
    writeFileSync(join(tree.root, 'about.html'), '<h1>changed</h1>\n');
    utimesSync(join(tree.root, 'about.html'), new Date(), new Date(Date.now() + 5000));
    t.equal((await ask('/about.html', { 'if-none-match': etag })).status, 200, 'the old ETag no longer matches');
    t.equal((await ask('/about.html')).body.toString(), '<h1>changed</h1>\n');
    const line = await edge.logs.next((l) => l.path === '/nothing.html');
    t.equal(line?.code, 'EDGE_ERR_FILE_NOT_FOUND');
  });
}

t.test('a stale precompressed sibling (older than its file) is not served', async (t) => {
  const tree = makeTree(t);
  const edge = await startEdge(t, config(tree.root, '127.0.0.1:9'));
  utimesSync(join(tree.root, 'app.js.br'), new Date(0), new Date(0));
  const answer = await h1(edge.port, '/app.js', { 'accept-encoding': 'br' });
  t.equal(answer.headers['content-encoding'], undefined);
});
