// errorPages (DESIGN 29, issue 22): a file replaces the body of generated answers (and of the
// upstream's own with upstream: true), status and HSTS kept, re-read when it changes.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startEdge, tempDir, HSTS } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { deadPort, get } from './helpers/net.js';
import { makeTree } from './helpers/files.js';
import { startBackend } from './helpers/upstream.js';

function pages(t: { teardown(fn: () => unknown): void }): string {
  const dir = tempDir(t, 'gatehouse-pages-');
  mkdirSync(join(dir, 'errors'));
  writeFileSync(join(dir, 'errors', '404.html'), '<h1>lost</h1>\n');
  writeFileSync(join(dir, 'errors', '50x.html'), '<h1>down</h1>\n');
  return dir;
}

const config = (dir: string, root: string, backend: string, dead: string, upstream: boolean): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${backend}"] }
  dead: { targets: ["${dead}"] }
sites:
  - hosts: [localhost]
    errorPages: { 404: "${dir}/errors/404.html", "502 503 504": "${dir}/errors/50x.html", upstream: ${String(upstream)} }
    routes:
      - { path: /files/, files: { root: "${root}", stripPrefix: true } }
      - { path: /dead/, upstream: dead }
      - { path: /app/, upstream: app }
`;

t.test('generated answers get the site\'s page, status and HSTS kept; the upstream\'s own answers are relayed', async (t) => {
  const dir = pages(t);
  const tree = makeTree(t);
  const backend = await startBackend(t, (_req, res) => res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream says down'));
  const edge = await startEdge(t, config(dir, tree.root, backend.address, `127.0.0.1:${await deadPort()}`, false));
  for (const path of ['/nowhere', '/files/missing.html', '/files/.env']) {
    const answer = await get(edge.port, path);
    t.equal(answer.status, 404, path);
    t.equal(answer.body, '<h1>lost</h1>\n', `${path}: the page`);
    t.equal(answer.headers['content-type'], 'text/html; charset=utf-8');
    t.equal(answer.headers['strict-transport-security'], HSTS);
  }
  const dead = await get(edge.port, '/dead/x');
  t.equal(dead.status, 502);
  t.equal(dead.body, '<h1>down</h1>\n');
  t.equal(dead.headers['strict-transport-security'], HSTS);
  const own = await get(edge.port, '/app/x');
  t.equal(own.status, 503);
  t.equal(own.body, 'upstream says down', 'upstream: false relays the upstream\'s own body');
  // A 502 the edge wrote names its cause; a 503 the upstream wrote is relayed and names none.
  t.match(await edge.logs.next((l) => l.path === '/dead/x'), { status: 502, code: 'EDGE_ERR_NO_HEALTHY_TARGET' });
  const relayed = await edge.logs.next((l) => l.path === '/app/x');
  t.match(relayed, { status: 503 }, 'the relayed 503 is logged');
  t.equal(relayed?.code, undefined, 'with no edge code: the upstream answered');
  const h2 = await h2Get(t, edge.port, { ':path': '/dead/x' });
  t.equal(h2.status, 502);
  t.equal(h2.body, '<h1>down</h1>\n');

  writeFileSync(join(dir, 'errors', '404.html'), '<h1>lost, edited</h1>\n');
  t.equal((await get(edge.port, '/nowhere')).body, '<h1>lost, edited</h1>\n', 'an edited page is served without a reload');
});

t.test('upstream: true replaces the upstream\'s own error body, keeping its status; the connection stays usable', async (t) => {
  const dir = pages(t);
  const tree = makeTree(t);
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/app/ok') return void res.end('fine');
    res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream says down');
  });
  const edge = await startEdge(t, config(dir, tree.root, backend.address, `127.0.0.1:${await deadPort()}`, true));
  const own = await get(edge.port, '/app/x');
  t.equal(own.status, 503);
  t.equal(own.body, '<h1>down</h1>\n');
  t.equal(own.headers['strict-transport-security'], HSTS);
  const h2 = await h2Get(t, edge.port, { ':path': '/app/x' });
  t.equal(h2.status, 503);
  t.equal(h2.body, '<h1>down</h1>\n');
  t.equal((await get(edge.port, '/app/ok')).body, 'fine', 'other statuses pass untouched');
});
