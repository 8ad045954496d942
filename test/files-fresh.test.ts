// Files are looked up with synchronous syscalls and no cache (README "Serving files"): a swapped
// `current` symlink and a rewritten file are seen on the next request, and no answer, whatever
// way it ends, leaves a descriptor of a served file open.
import { mkdirSync, renameSync, symlinkSync, writeFileSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { connect } from 'node:http2';
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { get } from './helpers/net.js';
import { makeTree, servedOpen, until } from './helpers/files.js';
import { tempDir } from './helpers/edge.js';

const config = (root: string): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /gz/, files: { root: "${root}", stripPrefix: true }, compress: true }
      - { path: /, files: { root: "${root}", precompressed: [br, gzip] } }
`;

t.test('a deploy that swaps the `current` symlink, and a rewritten file, are served on the next request', async (t) => {
  const dir = tempDir(t, 'gatehouse-fresh-');
  for (const release of ['a', 'b']) {
    mkdirSync(join(dir, release));
    writeFileSync(join(dir, release, 'page.html'), `<h1>release ${release}</h1>\n`);
  }
  symlinkSync(join(dir, 'a'), join(dir, 'current'));
  const edge = await startEdge(t, config(join(dir, 'current')));
  const before = await get(edge.port, '/page.html');
  t.equal(before.body, '<h1>release a</h1>\n');
  // As deploy tools do: a new link beside the old, renamed over it (atomic).
  symlinkSync(join(dir, 'b'), join(dir, 'next'));
  renameSync(join(dir, 'next'), join(dir, 'current'));
  const after = await get(edge.port, '/page.html');
  t.equal(after.body, '<h1>release b</h1>\n', 'the new release at once');
  writeFileSync(join(dir, 'b', 'page.html'), '<h1>release b, fixed</h1>\n');
  utimesSync(join(dir, 'b', 'page.html'), new Date(), new Date(Date.now() + 5000));
  const fixed = await get(edge.port, '/page.html', { headers: { 'if-none-match': after.headers.etag ?? '' } });
  t.equal(fixed.status, 200, 'the old ETag no longer matches');
  t.equal(fixed.body, '<h1>release b, fixed</h1>\n');
  t.not(fixed.headers.etag, after.headers.etag);
});

t.test('every way an answer ends closes the file it opened (h1 and h2)', async (t) => {
  const tree = makeTree(t);
  const edge = await startEdge(t, config(tree.root));
  const page = await get(edge.port, '/about.html');
  const size = tree.big.length;
  const asks: [string, Record<string, string>, string?][] = [
    ['/about.html', {}], ['/about.html', {}, 'HEAD'], ['/about.html', { 'if-none-match': page.headers.etag ?? '' }],
    ['/about.html', { 'if-match': '"nope"' }], ['/big.bin', {}], ['/big.bin', { range: 'bytes=10-99' }],
    ['/big.bin', { range: `bytes=${size}-` }], ['/sub', {}], ['/sub/', {}], ['/app.js', { 'accept-encoding': 'br' }],
    ['/gz/data.json', { 'accept-encoding': 'gzip' }], ['/gz/big.bin', {}], ['/nothing', {}],
  ];
  const statuses: number[] = [];
  for (const [path, headers, method] of asks) statuses.push((await get(edge.port, path, { headers, ...(method === undefined ? {} : { method }) })).status);
  t.same(statuses, [200, 200, 304, 412, 200, 206, 416, 301, 200, 200, 200, 200, 404], 'every path was taken');
  const certs = await testCerts();
  const session = connect(`https://127.0.0.1:${edge.port}`, { ca: certs.caPem, servername: 'localhost' });
  session.on('error', () => undefined);
  t.teardown(() => session.destroy());
  for (const [path, headers, method] of asks) {
    await new Promise<void>((resolve, reject) => {
      const stream = session.request({ ':path': path, ':authority': 'localhost', ':method': method ?? 'GET', ...headers });
      stream.on('data', () => undefined);
      stream.on('close', resolve);
      stream.on('error', reject);
    });
  }
  t.ok(await until(() => servedOpen(tree.root).length === 0, 5_000), `no descriptor of a served file left open (open: ${JSON.stringify(servedOpen(tree.root))})`);
});
