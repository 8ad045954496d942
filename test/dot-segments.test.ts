import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { routingPath } from '../src/pipeline/path.js';
import { explainRoute } from '../src/tools/route.js';
import { startEdge, writeConfigFile, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls, rawUpstream } from './helpers/net.js';

t.test('routingPath decodes unreserved characters and removes dot segments (RFC 3986 §6.2.2.2, §5.2.4)', async (t) => {
  const cases: [string, string | null][] = [
    ['/widget', '/widget'],
    ['/a/b.c/d?x=..', '/a/b.c/d'],
    ['/widget/../admin-ws', '/admin-ws'],
    ['/widget/%2e%2e/admin-ws', '/admin-ws'],
    ['/widget/%2E./admin-ws', '/admin-ws'],
    ['/widget/.%2e/admin-ws?q', '/admin-ws'],
    ['/a/./b/', '/a/b/'],
    ['/a/%2e/b', '/a/b'],
    ['/a/.', '/a/'],
    ['/a/..', '/'],
    ['/a//../b', '/a/b'],
    ['/a/...', '/a/...'],
    ['/a/%2e%2e%2e', '/a/...'],
    ['/admin%2Dws', '/admin-ws'],
    ['/a%2Fb/%2e%2e/c', '/c'],
    ['/a/%zz/%41', '/a/%zz/A'],
    ['/%252e%252e/x', '/%252e%252e/x'],
    ['/..', null],
    ['/a/../..', null],
    ['/%2e%2e/x', null],
  ];
  for (const [target, want] of cases) t.equal(routingPath(target), want, target);
});

const config = (upstream: string): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${upstream}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /widget, upstream: app, websocket: { origins: ["https://widget.test"] } }
      - { path: /admin-ws, upstream: app, websocket: { origins: ["https://admin.test"] } }
      - { path: /, upstream: app, websocket: { origins: ["https://widget.test"] } }
`;

function handshake(path: string, origin: string): string {
  return `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: ${origin}\r\n\r\n`;
}

t.test('an upgrade through dot segments is judged by the Origin policy of the route it lands on', async (t) => {
  const lines: string[] = [];
  const upstream = await rawUpstream(t, (socket, data) => {
    lines.push(data.slice(0, data.indexOf('\r\n')));
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
  });
  const { port, logs } = await startEdge(t, config(upstream.address));
  for (const path of ['/widget/../admin-ws', '/widget/%2e%2e/admin-ws', '/widget/.%2E/admin-ws', '/admin%2Dws', '/%61dmin-ws']) {
    const refused = parseRaw(await rawTls(port, handshake(path, 'https://widget.test')));
    t.equal(refused.status, 403, `${path} with /widget's Origin`);
    t.strictSame(refused.headers.get('strict-transport-security'), [HSTS]);
  }
  t.equal(upstream.connections, 0, 'no refused upgrade reached the upstream');
  t.ok(logs.find((l) => l.event === 'websocket-refused' && l.path === '/widget/../admin-ws'), 'logged with the path as sent');

  const allowed = parseRaw(await rawTls(port, handshake('/widget/../admin-ws', 'https://admin.test')));
  t.equal(allowed.status, 404, '/admin-ws\'s Origin passes; the upstream answered');
  t.strictSame(lines, ['GET /widget/../admin-ws HTTP/1.1'], 'the request-target went upstream byte for byte');
});

t.test('a path climbing above "/" is 400 with HSTS, never proxied; others are forwarded unchanged', async (t) => {
  const lines: string[] = [];
  const upstream = await rawUpstream(t, (socket, data) => {
    lines.push(data.slice(0, data.indexOf('\r\n')));
    socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  });
  const { port, logs } = await startEdge(t, config(upstream.address));
  for (const path of ['/../etc/passwd', '/widget/../../x', '/%2E%2e/x']) {
    const reply = parseRaw(await rawTls(port, `GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`));
    t.equal(reply.status, 400, path);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], path);
    t.match(await logs.next((l) => l.status === 400 && l.path === path), { code: 'EDGE_ERR_BAD_REQUEST' }, `${path}: logged as a bad request`);
  }
  t.equal(upstream.connections, 0);
  const ok = parseRaw(await rawTls(port, 'GET /a/./b/%2e%2e/c?x=/../.. HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n'));
  t.equal(ok.status, 200);
  t.strictSame(lines, ['GET /a/./b/%2e%2e/c?x=/../.. HTTP/1.1']);
});

t.test('gatehouse route answers by the same normalised path', async (t) => {
  const { file } = await writeConfigFile(t, config('127.0.0.1:9'));
  const { config: loaded } = await loadConfig(file);
  if (loaded === undefined) throw new Error('test config invalid');
  const via = explainRoute(loaded, { ip: '127.0.0.1', host: 'localhost', path: '/widget/%2e%2e/admin-ws' });
  t.equal(via.ok && via.answer.route, '/admin-ws');
  const above = explainRoute(loaded, { ip: '127.0.0.1', host: 'localhost', path: '/../x' });
  t.equal(above.ok, false);
});
