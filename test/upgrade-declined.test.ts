import { createServer } from 'node:http';
import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls } from './helpers/net.js';
import { startBackend } from './helpers/upstream.js';

// Node 22.21+/24.9+ have http.Server's shouldUpgradeCallback; Node 20 ignores the option.
const declinable = typeof (createServer() as { shouldUpgradeCallback?: unknown }).shouldUpgradeCallback === 'function';

const H2C = 'GET /h2c HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n';
// HTTP2-Settings not named in Connection: still connection-specific (RFC 7540 §3.2.1).
const UNLISTED = 'GET /unlisted HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nX-Kept: yes\r\n\r\n';

t.test(`an h2c Upgrade ${declinable ? 'is served as a plain request without its hop-by-hop headers' : 'is refused with a 400 and HSTS (Node 20)'}`, async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  for (const raw of [H2C, UNLISTED]) {
    const reply = parseRaw(await rawTls(port, raw));
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], 'HSTS either way');
    if (declinable) {
      t.equal(reply.status, 200, 'the upstream answered');
      t.equal(reply.body, `ok from ${backend.port}`);
      // Node drops what was pipelined behind a declined upgrade: the client must retry it elsewhere.
      t.strictSame(reply.headers.get('connection'), ['close']);
    } else {
      t.equal(reply.status, 400);
      t.match(reply.body, /only WebSocket upgrades are supported/);
    }
  }
  if (!declinable) {
    t.equal(backend.connections, 0, 'no upstream contact');
    return;
  }
  t.strictSame(backend.seen.map((s) => s.url), ['/h2c', '/unlisted']);
  for (const seen of backend.seen) {
    t.equal(seen.headers.upgrade, undefined, `${seen.url}: no Upgrade upstream`);
    t.equal(seen.headers['http2-settings'], undefined, `${seen.url}: no HTTP2-Settings upstream`);
    t.equal(seen.headers.connection, 'keep-alive', `${seen.url}: Gatehouse's own Connection only`);
  }
  t.equal(backend.seen[1]?.headers['x-kept'], 'yes', 'end-to-end headers still go');
});

t.test('a request carrying Upgrade without Connection: upgrade stays a keep-alive request on every Node', async (t) => {
  const backend = await startBackend(t);
  const { port } = await startEdge(t, basicConfig([backend.address]));
  const one = 'GET /a HTTP/1.1\r\nHost: localhost\r\nUpgrade: h2c\r\n\r\n';
  const two = 'GET /b HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';
  const text = await rawTls(port, one + two);
  t.equal(text.match(/HTTP\/1\.1 200 /g)?.length, 2, 'both pipelined requests answered on one connection');
  t.strictSame(backend.seen.map((s) => [s.url, s.headers.upgrade]), [['/a', undefined], ['/b', undefined]]);
});
