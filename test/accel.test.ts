// X-Accel-Redirect and internal routes (DESIGN 24, issue 22).
import { request as httpsRequest } from 'node:https';
import type { IncomingHttpHeaders } from 'node:http';
import t from 'tap';
import { startEdge, HSTS } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { h2Get } from './helpers/h2.js';
import { makeTree } from './helpers/files.js';
import { startBackend } from './helpers/upstream.js';

async function ask(port: number, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: IncomingHttpHeaders; body: Buffer }> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    httpsRequest({ host: '127.0.0.1', port, path, servername: 'localhost', ca: certs.caPem, agent: false, headers: { host: 'localhost', ...headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    }).on('error', reject).end();
  });
}

t.test('an upstream answer with X-Accel-Redirect is replaced by the internal route\'s file; clients cannot reach that route', async (t) => {
  const tree = makeTree(t);
  const backend = await startBackend(t, (req, res) => {
    const target = req.url === '/download/big' ? '/system/big.bin' : req.url === '/download/typed' ? '/system/about.html' : '/public/about.html';
    const headers: Record<string, string | string[]> = { 'x-accel-redirect': target, 'x-custom': 'kept', 'set-cookie': ['a=1', 'b=2'], 'content-length': '11' };
    if (req.url === '/download/typed') headers['content-type'] = 'application/x-custom';
    res.writeHead(200, headers).end('not a file');
  });
  const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${backend.address}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /system/, internal: true, files: { root: "${tree.root}", stripPrefix: true } }
      - { path: /public/, files: { root: "${tree.root}", stripPrefix: true } }
      - { path: /, upstream: app }
`);
  const big = await ask(edge.port, '/download/big');
  t.equal(big.status, 200);
  t.ok(big.body.equals(tree.big), 'the file, byte for byte');
  t.equal(big.headers['content-length'], String(tree.big.length), 'framing is the file\'s');
  t.equal(big.headers['x-custom'], 'kept', 'the upstream\'s other headers are kept');
  t.strictSame(big.headers['set-cookie'], ['a=1', 'b=2']);
  t.equal(big.headers['x-accel-redirect'], undefined);
  t.equal(big.headers['strict-transport-security'], HSTS);
  const typed = await ask(edge.port, '/download/typed');
  t.equal(typed.headers['content-type'], 'application/x-custom', 'the upstream\'s Content-Type wins, as in nginx');
  t.equal(typed.body.toString(), '<h1>about</h1>\n');
  const part = await ask(edge.port, '/download/big', { range: 'bytes=10-19' });
  t.equal(part.status, 206, 'the client\'s Range applies to the file');
  t.ok(part.body.equals(tree.big.subarray(10, 20)));
  const h2 = await h2Get(t, edge.port, { ':path': '/download/typed' });
  t.equal(h2.status, 200);
  t.equal(h2.body, '<h1>about</h1>\n');

  const direct = await ask(edge.port, '/system/big.bin');
  t.equal(direct.status, 404, 'an internal route is not for clients');
  const line = await edge.logs.next((l) => l.path === '/system/big.bin');
  t.equal(line?.code, 'EDGE_ERR_INTERNAL_ROUTE');
  const notInternal = await ask(edge.port, '/download/elsewhere');
  t.equal(notInternal.status, 404, 'X-Accel-Redirect to a route that is not internal: 404');
  t.equal(backend.seen.length, 5);
});
