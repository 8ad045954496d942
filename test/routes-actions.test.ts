import t from 'tap';
import { startEdge, HSTS } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

const config = (app: Upstream): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${app.address}"] }
sites:
  - hosts: [app.test]
    redirect: { to: "https://localhost{uri}", status: 301 }
  - hosts: [localhost]
    routes:
      - exact: /health
        respond: { status: 200, body: "up {host} {request_id}\\n", headers: { X-Req: "{request_id}" } }
      - exact: /json
        respond: { status: 418, body: '{{"a":1}}', headers: { Content-Type: application/json } }
      - regex: '^/go/(.*)$'
        redirect: { to: "/{re.1}" }
      - regex: '^/hdr/'
        redirect: { to: "/landing?from={header.X-From}", status: 308 }
      - regex: '^/away/(?<where>[a-z]+)$'
        redirect: { to: "https://{re.where}.example.net/x?{query}", status: 307 }
      - path: /old/
        redirect: { to: "/new/{rest}", status: 301 }
      - path: /small/
        upstream: app
        limits: { bodySize: 4 }
      - path: /loc/
        upstream: app
        stripPrefix: true
      - path: /noloc/
        upstream: app
        rewriteLocation: false
      - path: /
        upstream: app
`;

function locations(req: { url?: string | undefined; headers: Record<string, unknown> }, port: number): Record<string, string> {
  void port;
  return {
    location: `http://${String(req.headers.host)}/login?next=1`,
    'content-location': 'http://127.0.0.1:1/elsewhere',
    refresh: `0; url=http://${String(req.headers.host)}/r`,
  };
}

t.test('respond: status, body with placeholders, default and own Content-Type, request id logged (h1 and h2)', async (t) => {
  const app = await startBackend(t);
  const { port, logs } = await startEdge(t, config(app));
  const r = await get(port, '/health');
  t.equal(r.status, 200);
  t.equal(r.headers['content-type'], 'text/plain; charset=utf-8');
  t.equal(r.headers['strict-transport-security'], HSTS);
  const id = String(r.headers['x-req']);
  t.match(id, /^[0-9a-f-]{36}$/);
  t.equal(r.body, `up localhost ${id}\n`);
  const line = await logs.next((l) => l.path === '/health');
  t.equal(line?.requestId, id, 'the log line carries the same request id');
  const json = await get(port, '/json');
  t.equal(json.status, 418);
  t.equal(json.headers['content-type'], 'application/json');
  t.equal(json.body, '{"a":1}', '{{ and }} are literal braces');
  const session = await h2Session(t, port);
  const h2 = await h2Request(session, { ':path': '/json' });
  t.equal(h2.status, 418);
  t.equal(h2.body, '{"a":1}');
  t.equal(h2.headers['strict-transport-security'], HSTS);
  session.close();
  t.equal(app.seen.length, 0, 'nothing reached the upstream');
});

t.test('redirects stay on this host unless `to` names another: //evil, /\\evil, %2F%2Fevil, tabs', async (t) => {
  const app = await startBackend(t);
  const { port } = await startEdge(t, config(app));
  const here = `https://localhost:${port}`;
  const cases: [string, string][] = [
    ['/go/x?y=1', `${here}/x`],
    ['/go//evil.example', `${here}/evil.example`],
    ['/go/%2F%2Fevil.example', `${here}/%2F%2Fevil.example`],
    ['/go/%5Cevil.example', `${here}/%5Cevil.example`],
    ['/old/a/b?q=1', `${here}/new/a/b`],
  ];
  for (const [path, want] of cases) {
    const r = await get(port, path);
    t.equal(r.headers.location, want, path);
    t.equal(new URL(r.headers.location ?? '', 'https://x.invalid').host, `localhost:${port}`, `${path}: same host`);
    t.equal(r.status, path.startsWith('/old/') ? 301 : 302, `${path}: status`);
    t.equal(r.headers['strict-transport-security'], HSTS);
  }
  // Raw bytes: a backslash and a tab right after the slash (what a browser folds into "//").
  for (const raw of ['/go/\\evil.example', '/go/\\\\evil.example']) {
    const reply = parseRaw(await rawTls(port, `GET ${raw} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`));
    t.equal(reply.status, 302, `${raw} is redirected`);
    const location = reply.headers.get('location')?.[0] ?? '';
    t.equal(new URL(location).host, `localhost:${port}`, `${raw} stays here (${location})`);
  }
  const away = await get(port, '/away/docs?x=1');
  t.equal(away.status, 307);
  t.equal(away.headers.location, 'https://docs.example.net/x?x=1', 'a `to` naming its host leaves for it');
  const h = await get(port, '/hdr/x', { headers: { 'x-from': '//evil.example' } });
  t.equal(h.status, 308);
  t.equal(h.headers.location, `${here}/landing?from=//evil.example`);
  const site = await get(port, '/p?q=1', { headers: { host: 'app.test' } });
  t.equal(site.status, 301, 'site-level redirect (www → apex)');
  t.equal(site.headers.location, 'https://localhost/p?q=1');
  t.equal(app.seen.length, 0);
});

t.test('Location, Content-Location and Refresh on the target origin are moved to the client-facing one', async (t) => {
  const app = await startBackend(t, (req, res) => {
    res.writeHead(302, locations(req, 0));
    res.end();
  });
  const { port } = await startEdge(t, config(app));
  const stripped = await get(port, '/loc/a');
  t.equal(app.seen.at(-1)?.url, '/a', 'stripPrefix');
  // What Gitea's sub-path idiom asks of nginx (gatehouse import nginx maps it here): %2F stays %2F, the query as sent.
  await get(port, '/loc/owner%2Frepo/raw?path=a%2Fb');
  t.equal(app.seen.at(-1)?.url, '/owner%2Frepo/raw?path=a%2Fb', 'stripPrefix keeps %2F in the path and the query');
  t.equal(stripped.headers.location, `https://localhost:${port}/loc/login?next=1`, 'the stripped prefix is put back');
  t.equal(stripped.headers.refresh, `0; url=https://localhost:${port}/loc/r`);
  t.equal(stripped.headers['content-location'], 'http://127.0.0.1:1/elsewhere', 'another origin is left alone');
  const plain = await get(port, '/x');
  t.equal(plain.headers.location, `https://localhost:${port}/login?next=1`);
  const off = await get(port, '/noloc/x');
  t.equal(off.headers.location, 'http://localhost/login?next=1', 'rewriteLocation: false');
  const viaTarget = await startBackend(t, (_req, res) => {
    res.writeHead(301, { location: `http://${viaTarget.address}/t` });
    res.end();
  });
  const second = await startEdge(t, config(viaTarget));
  const moved = await get(second.port, '/y');
  t.equal(moved.headers.location, `https://localhost:${second.port}/t`, 'the target as written in targets');
});

t.test('limits.bodySize per route: 413 there, the global limit elsewhere', async (t) => {
  const app = await startBackend(t);
  const { port, logs } = await startEdge(t, config(app));
  const big = await get(port, '/small/x', { method: 'POST', body: 'hello world' });
  t.equal(big.status, 413);
  t.equal(big.headers['strict-transport-security'], HSTS);
  t.ok(await logs.next((l) => l.path === '/small/x' && l.status === 413), 'logged');
  const fine = await get(port, '/small/x', { method: 'POST', body: 'hi' });
  t.equal(fine.status, 200);
  const elsewhere = await get(port, '/big', { method: 'POST', body: 'hello world' });
  t.equal(elsewhere.status, 200);
});

t.test('timeouts.response per route: 504 with EDGE_ERR_UPSTREAM_TIMEOUT on that route only', async (t) => {
  const app = await startBackend(t, (req, res) => {
    if (req.url === '/slow/x' || req.url === '/other') setTimeout(() => res.end('late'), 600);
    else res.end('ok');
  });
  const text = config(app).replace('      - path: /small/', '      - path: /slow/\n        upstream: app\n        timeouts: { response: 150ms }\n      - path: /small/');
  const { port, logs } = await startEdge(t, text);
  const slow = await get(port, '/slow/x');
  t.equal(slow.status, 504);
  const line = await logs.next((l) => l.path === '/slow/x');
  t.equal(line?.code, 'EDGE_ERR_UPSTREAM_TIMEOUT');
  const other = await get(port, '/other');
  t.equal(other.status, 200, 'the global 60s applies elsewhere');
});
