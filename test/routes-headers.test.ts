import t from 'tap';
import { startEdge, HSTS } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { deadPort, get } from './helpers/net.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

const config = (app: Upstream, dead: number): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${app.address}"] }
  dead: { targets: ["127.0.0.1:${dead}"] }
sites:
  - hosts: [localhost]
    headers:
      response:
        set: { X-Content-Type-Options: nosniff, X-Frame-Options: SAMEORIGIN }
        add: { Link: "</app.css>; rel=preload; as=style" }
        remove: [Server, X-Powered-By]
      request:
        set: { X-Forwarded-Port: "{port}", X-Request-Id: "{request_id}", X-Agent: "{header.User-Agent}" }
        remove: [Proxy]
    routes:
      - path: /api/
        upstream: app
        headers:
          request: { set: { Host: backend.internal, X-Agent: "api" } }
          response:
            - { set: { Cache-Control: no-store }, statuses: success }
            - { set: { X-Error: "yes" }, statuses: [404, 502] }
            - { set: { X-Frame-Options: DENY } }
      - path: /dead/
        upstream: dead
      - exact: /teapot
        respond: { status: 418, body: tea }
      - path: /
        upstream: app
`;

t.test('site and route rules merge (route wins per name) on proxied answers, h1 and h2', async (t) => {
  const app = await startBackend(t, (req, res) => {
    res.setHeader('server', 'app/1.0');
    res.setHeader('x-powered-by', 'php');
    res.setHeader('link', '</up.js>; rel=preload');
    res.statusCode = req.url === '/api/missing' ? 404 : 200;
    res.end('body');
  });
  const { port } = await startEdge(t, config(app, await deadPort() ?? 9));
  const root = await get(port, '/x', { headers: { 'user-agent': 'ua/1', proxy: 'http://evil' } });
  t.equal(root.headers['x-content-type-options'], 'nosniff');
  t.equal(root.headers['x-frame-options'], 'SAMEORIGIN');
  t.equal(root.headers.server, undefined, 'removed');
  t.equal(root.headers['x-powered-by'], undefined, 'removed');
  t.strictSame(root.rawHeaders.filter((_, i, a) => i % 2 === 1 && a[i - 1]?.toLowerCase() === 'link'), ['</up.js>; rel=preload', '</app.css>; rel=preload; as=style'], 'add appends');
  t.equal(root.headers['strict-transport-security'], HSTS);
  const seen = app.seen.at(-1);
  t.equal(seen?.headers['x-forwarded-port'], String(port));
  t.match(seen?.headers['x-request-id'], /^[0-9a-f-]{36}$/);
  t.equal(seen?.headers['x-agent'], 'ua/1', '{header.NAME}');
  t.equal(seen?.headers.proxy, undefined, 'request remove');
  t.equal(seen?.headers.host, 'localhost');

  const api = await get(port, '/api/x');
  t.equal(api.headers['x-frame-options'], 'DENY', 'the route wins per name');
  t.equal(api.headers['x-content-type-options'], 'nosniff', 'the site rules still apply (unlike nginx add_header inheritance)');
  t.equal(api.headers['cache-control'], 'no-store', 'statuses: success');
  t.equal(api.headers['x-error'], undefined);
  t.equal(app.seen.at(-1)?.headers.host, 'backend.internal', 'Host can be set for the upstream');
  t.equal(app.seen.at(-1)?.headers['x-agent'], 'api');
  t.equal(app.seen.at(-1)?.headers['x-forwarded-host'], 'localhost', 'the forwarded headers still name the client-facing host');
  const missing = await get(port, '/api/missing');
  t.equal(missing.headers['cache-control'], undefined, 'a 404 is not a success');
  t.equal(missing.headers['x-error'], 'yes');

  const session = await h2Session(t, port);
  const h2 = await h2Request(session, { ':path': '/api/x' });
  t.equal(h2.headers['x-frame-options'], 'DENY');
  t.equal(h2.headers['x-content-type-options'], 'nosniff');
  t.equal(h2.headers.server, undefined);
  session.close();
});

t.test('response rules apply to generated answers too: 502, 404, respond (nginx `always`)', async (t) => {
  const app = await startBackend(t);
  const { port, logs } = await startEdge(t, config(app, await deadPort() ?? 9));
  const dead = await get(port, '/dead/x');
  t.equal(dead.status, 502);
  t.equal(dead.headers['x-frame-options'], 'SAMEORIGIN');
  t.equal(dead.headers['strict-transport-security'], HSTS);
  t.match((await logs.next((l) => l.path === '/dead/x'))?.code, /^EDGE_ERR_(UPSTREAM_CONNECT|NO_HEALTHY_TARGET)$/);
  const tea = await get(port, '/teapot');
  t.equal(tea.status, 418);
  t.equal(tea.headers['x-content-type-options'], 'nosniff');
  const api502 = await startEdge(t, config(app, 9).replace('path: /api/\n        upstream: app', 'path: /api/\n        upstream: dead'));
  const failed = await get(api502.port, '/api/x');
  t.equal(failed.status, 502);
  t.equal(failed.headers['x-error'], 'yes', 'a status-listed block on a generated 502');
  t.equal(failed.headers['cache-control'], 'no-store', 'the edge\'s own no-store');
});
