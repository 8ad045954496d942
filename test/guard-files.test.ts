// A `files` route is guarded like a proxied one (DESIGN 26, 27): access and rate limits decide
// before any file is opened, and a files route falling back to its upstream is counted once.
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { makeTree } from './helpers/files.js';
import { get } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

type Tap = Parameters<typeof startBackend>[0];

async function edgeWith(t: Tap, route: string, extra = '') {
  const tree = makeTree(t);
  const backend = await startBackend(t);
  const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend.address}"] }
${extra}
sites:
  - hosts: [localhost]
    routes:
      - ${route.replaceAll('ROOT', tree.root)}
`);
  return { backend, edge };
}

t.test('access.deny on a files route is 403 with HSTS and its code; no file is served', async (t) => {
  const { edge } = await edgeWith(t, '{ path: /, files: { root: "ROOT" }, access: { deny: [127.0.0.0/8] } }');
  const refused = await get(edge.port, '/about.html');
  t.equal(refused.status, 403);
  t.notMatch(refused.body, /about/, 'the file did not go out');
  t.match(refused.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 403);
  t.equal(line?.code, 'EDGE_ERR_ACCESS_DENIED');
  t.equal(line?.rule, 'access.deny 127.0.0.0/8');
});

t.test('access.methods on a files route: another method is 405 with Allow before the files step', async (t) => {
  const { edge } = await edgeWith(t, '{ path: /, files: { root: "ROOT" }, access: { methods: [GET] } }');
  const refused = await get(edge.port, '/about.html', { method: 'DELETE' });
  t.equal(refused.status, 405);
  t.equal(refused.headers.allow, 'GET, HEAD');
  t.equal((await edge.logs.next((l) => l.status === 405))?.code, 'EDGE_ERR_METHOD_NOT_ALLOWED');
  const served = await get(edge.port, '/about.html');
  t.equal(served.status, 200);
  t.match(served.body, /about/);
});

t.test('a rate limit on a files route counts each request once, also when it falls back to the upstream', async (t) => {
  const { backend, edge } = await edgeWith(t,
    '{ path: /, files: { root: "ROOT", tryFiles: ["{path}"], fallback: app }, rateLimit: files }',
    'rateLimits:\n  files: { rate: 1/m, burst: 2 }');
  // burst 2 on top of the one the rate allows at once: three requests pass, the fourth is over.
  const statuses: number[] = [];
  for (const path of ['/about.html', '/not-a-file', '/not-a-file-either', '/about.html']) statuses.push((await get(edge.port, path)).status);
  t.same(statuses, [200, 200, 200, 429], 'a fallback is not counted a second time');
  t.equal(backend.seen.length, 2, 'the two fallbacks reached the upstream');
  t.equal((await edge.logs.next((l) => l.status === 429))?.code, 'EDGE_ERR_RATE_LIMITED');
});
