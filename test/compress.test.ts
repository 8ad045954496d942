// Compression (DESIGN 25, issue 22): negotiated, never where it must not be, BREACH-aware, streamed.
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { connect } from 'node:http2';
import { brotliDecompressSync, createGunzip, gunzipSync } from 'node:zlib';
import t from 'tap';
import { negotiate } from '../src/compress/negotiate.js';
import { startEdge } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { makeTree } from './helpers/files.js';
import { startBackend } from './helpers/upstream.js';

const JSON_BODY = JSON.stringify({ items: Array.from({ length: 1500 }, (_, i) => ({ id: i, name: `item ${i}`, ok: i % 2 === 0 })) });

interface Answer { status: number; headers: IncomingHttpHeaders; body: Buffer }

async function ask(port: number, path: string, headers: Record<string, string> = {}, method = 'GET'): Promise<Answer> {
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

function app(req: IncomingMessage, res: ServerResponse): void {
  const url = (req.url ?? '/').replace(/^\/(always|off)\//, '/');
  const json = { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(JSON_BODY)), etag: '"v1"' };
  if (url === '/json') return void res.writeHead(200, json).end(JSON_BODY);
  if (url === '/cookie') return void res.writeHead(200, { ...json, 'set-cookie': 'sid=1' }).end(JSON_BODY);
  if (url === '/encoded') return void res.writeHead(200, { ...json, 'content-encoding': 'gzip' }).end(JSON_BODY);
  if (url === '/no-transform') return void res.writeHead(200, { ...json, 'cache-control': 'public, no-transform' }).end(JSON_BODY);
  if (url === '/small') return void res.writeHead(200, { 'content-type': 'application/json', 'content-length': '7' }).end('{"a":1}');
  if (url === '/png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(JSON_BODY);
  if (url === '/events') return void res.writeHead(200, { 'content-type': 'text/event-stream' }).end(`data: ${JSON_BODY}\n\n`);
  if (url === '/partial') return void res.writeHead(206, { 'content-type': 'application/json', 'content-range': 'bytes 0-9/100' }).end(JSON_BODY.slice(0, 10));
  if (url === '/empty') return void res.writeHead(204).end();
  if (url === '/slow-known') {
    // The same with its length declared: a body the edge would compress in one call must still flow when it pauses.
    const first = 'first part of a slow answer\n'.repeat(100);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(first.length + 8) });
    res.write(first);
    setTimeout(() => res.end('the end\n'), 1500);
    return;
  }
  if (url === '/slow') {
    // The first part, then silence: it must reach the client before the rest exists.
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first part of a slow answer\n'.repeat(100));
    setTimeout(() => res.end('the end\n'), 1500);
    return;
  }
  res.writeHead(404).end();
}

const config = (backend: string, root: string, extra = ''): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${backend}"] }
sites:
  - hosts: [localhost]
    compress: true
    routes:
      - { path: /files/, files: { root: "${root}", stripPrefix: true } }
      - { path: /always/, upstream: app, compress: { credentialed: always } }
      - { path: /off/, upstream: app, compress: false }
      - { path: /, upstream: app }
${extra}`;

t.test('Accept-Encoding negotiation by q-value, then server preference (RFC 9110 §12.5.3)', async (t) => {
  t.equal(negotiate('gzip, br', ['br', 'gzip']), 'br');
  t.equal(negotiate('gzip;q=1, br;q=0.5', ['br', 'gzip']), 'gzip');
  t.equal(negotiate('br;q=0, *', ['br', 'gzip']), 'gzip');
  t.equal(negotiate('*;q=0', ['br', 'gzip']), undefined);
  t.equal(negotiate('identity', ['br', 'gzip']), undefined);
  t.equal(negotiate('GZIP; Q=0.3', ['br', 'gzip']), 'gzip');
  t.equal(negotiate('x-gzip', ['gzip']), 'gzip');
  t.equal(negotiate('gzip;q=abc', ['gzip']), undefined);
  t.equal(negotiate(undefined, ['gzip']), undefined);
});

t.test('proxied answers are compressed when they may be, and left alone when they must be', async (t) => {
  const backend = await startBackend(t, app);
  const tree = makeTree(t);
  const edge = await startEdge(t, config(backend.address, tree.root));
  const gz = await ask(edge.port, '/json', { 'accept-encoding': 'gzip' });
  t.equal(gz.headers['content-encoding'], 'gzip');
  t.equal(gz.headers.vary, 'Accept-Encoding');
  t.equal(gz.headers.etag, 'W/"v1"', 'a strong ETag becomes weak');
  t.equal(gz.headers['content-length'], undefined);
  t.equal(gunzipSync(gz.body).toString(), JSON_BODY);
  t.ok(gz.body.length < JSON_BODY.length / 3, `compressed to ${gz.body.length}`);
  const br = await ask(edge.port, '/json', { 'accept-encoding': 'gzip;q=0.5, br' });
  t.equal(br.headers['content-encoding'], 'br');
  t.equal(brotliDecompressSync(br.body).toString(), JSON_BODY);
  const none = await ask(edge.port, '/json');
  t.equal(none.headers['content-encoding'], undefined);
  t.equal(none.headers.vary, 'Accept-Encoding', 'Vary even when this client took identity');
  t.equal(none.headers.etag, '"v1"');

  const ae = { 'accept-encoding': 'gzip, br' };
  for (const path of ['/encoded', '/no-transform', '/small', '/png', '/events', '/partial', '/off/json']) {
    const answer = await ask(edge.port, path, ae);
    t.not(answer.headers['content-encoding'] === 'br', true, `${path} is not compressed`);
  }
  t.equal((await ask(edge.port, '/encoded', ae)).headers['content-encoding'], 'gzip', 'the upstream\'s own coding is kept as is');
  t.equal((await ask(edge.port, '/empty', ae)).status, 204);
  const head = await ask(edge.port, '/json', ae, 'HEAD');
  t.equal(head.headers['content-encoding'], undefined, 'HEAD is not compressed');

  // A file on a compress route: compressed on the fly, weak ETag; a range of it is not.
  const file = await ask(edge.port, '/files/data.json', { 'accept-encoding': 'gzip' });
  t.equal(file.headers['content-encoding'], 'gzip');
  t.match(file.headers.etag, /^W\//);
  t.equal(gunzipSync(file.body).toString().slice(0, 9), '{"items":');
  const part = await ask(edge.port, '/files/data.json', { 'accept-encoding': 'gzip', range: 'bytes=0-8' });
  t.equal(part.status, 206);
  t.equal(part.headers['content-encoding'], undefined);
  t.equal(part.body.toString(), '{"items":');
});

t.test('BREACH: credentialed answers are compressed only for same-origin requests (Sec-Fetch-Site), unless configured', async (t) => {
  const backend = await startBackend(t, app);
  const tree = makeTree(t);
  const edge = await startEdge(t, config(backend.address, tree.root));
  const coding = async (path: string, headers: Record<string, string>): Promise<string | undefined> =>
    (await ask(edge.port, path, { 'accept-encoding': 'gzip', ...headers })).headers['content-encoding'];
  t.equal(await coding('/json', { cookie: 'sid=1' }), undefined, 'cookie, no Sec-Fetch-Site: identity');
  t.equal(await coding('/json', { cookie: 'sid=1', 'sec-fetch-site': 'cross-site' }), undefined, 'cross-site with cookie: identity');
  t.equal(await coding('/json', { cookie: 'sid=1', 'sec-fetch-site': 'same-site' }), undefined, 'same-site (a sibling subdomain) with cookie: identity');
  t.equal(await coding('/json', { authorization: 'Bearer x', 'sec-fetch-site': 'cross-site' }), undefined, 'Authorization counts too');
  t.equal(await coding('/json', { cookie: 'sid=1', 'sec-fetch-site': 'same-origin' }), 'gzip', 'same-origin with cookie: compressed');
  t.equal(await coding('/json', { cookie: 'sid=1', 'sec-fetch-site': 'none' }), 'gzip', 'user-initiated navigation: compressed');
  t.equal(await coding('/cookie', {}), undefined, 'an answer that sets a cookie, to a request of unknown origin: identity');
  t.equal(await coding('/cookie', { 'sec-fetch-site': 'same-origin' }), 'gzip');
  t.equal(await coding('/json', { 'sec-fetch-site': 'cross-site' }), 'gzip', 'no credentials: compressed');
  t.equal(await coding('/always/json', { cookie: 'sid=1', 'sec-fetch-site': 'cross-site' }), 'gzip', 'credentialed: always is every peer\'s behaviour');
  t.equal(await coding('/files/data.json', { cookie: 'sid=1' }), 'gzip', 'static files reflect no input: compressed');
});

t.test('a slow answer is flushed: the client decodes its first part before the upstream finishes (h1 and h2, length unknown or declared)', async (t) => {
  const backend = await startBackend(t, app);
  const tree = makeTree(t);
  const edge = await startEdge(t, config(backend.address, tree.root));
  const certs = await testCerts();
  const session = connect(`https://127.0.0.1:${edge.port}`, { ca: certs.caPem, servername: 'localhost' });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  for (const path of ['/slow', '/slow-known']) {
    const firstH1 = await new Promise<number>((resolve, reject) => {
      const started = Date.now();
      httpsRequest({ host: '127.0.0.1', port: edge.port, path, servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost', 'accept-encoding': 'gzip' } }, (res) => {
        t.equal(res.headers['content-encoding'], 'gzip');
        const gunzip = createGunzip();
        res.pipe(gunzip);
        gunzip.once('data', () => resolve(Date.now() - started));
        gunzip.on('error', reject);
      }).on('error', reject).end();
    });
    t.ok(firstH1 < 1200, `h1 ${path}: first decoded bytes after ${firstH1} ms, before the upstream's 1.5 s pause ended`);
    const firstH2 = await new Promise<number>((resolve, reject) => {
      const started = Date.now();
      const stream = session.request({ ':path': path, ':authority': 'localhost', 'accept-encoding': 'gzip' });
      const gunzip = createGunzip();
      stream.pipe(gunzip);
      gunzip.once('data', () => resolve(Date.now() - started));
      gunzip.on('error', reject);
    });
    t.ok(firstH2 < 1200, `h2 ${path}: first decoded bytes after ${firstH2} ms`);
  }
});
