import t from 'tap';
import { compileRouteRegex } from '../src/config/regex.js';
import { startEdge, HSTS } from './helpers/edge.js';
import { h2Request, h2Session } from './helpers/h2.js';
import { get, parseRaw, rawTls } from './helpers/net.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

type Tap = Parameters<typeof startBackend>[0];

async function named(t: Tap, name: string): Promise<Upstream> {
  return startBackend(t, (req, res) => res.end(`${name} ${req.method ?? ''} ${req.url ?? ''}`));
}

const config = (a: Upstream, b: Upstream, c: Upstream): string => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  a: { targets: ["${a.address}"] }
  b: { targets: ["${b.address}"] }
  c: { targets: ["${c.address}"] }
sites:
  - hosts: [localhost]
    routes:
      - exact: /favicon.ico
        respond: { status: 204 }
      - regex: '^/api/(?<project>\\d+)/store/?$'
        upstream: a
        rewrite: /api/{re.project}/envelope/
      - regex: '\\.(png|jpg)$'
        caseInsensitive: true
        upstream: b
      - path: /packs/
        overridesRegex: true
        upstream: c
      - path: /syncthing/
        upstream: a
        stripPrefix: true
      - path: /only/
        methods: [GET]
        upstream: a
      - path: /only/
        methods: [POST]
        upstream: b
      - regex: '^/(a+)+$'
        upstream: a
      - path: /
        upstream: c
  - hosts: [app.test]
    routes:
      - { path: /only/, methods: [GET], upstream: a }
      - { exact: /only/x, methods: [POST], upstream: b }
`;

t.test('nginx order on real sockets: exact, prefix with overridesRegex, regex in file order, longest prefix (h1)', async (t) => {
  const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
  const { port } = await startEdge(t, config(a, b, c));
  const cases: [string, number, string][] = [
    ['/favicon.ico', 204, ''],
    ['/api/42/store', 200, 'a GET /api/42/envelope/'],
    ['/api/42/store/?x=1&y=%2F', 200, 'a GET /api/42/envelope/?x=1&y=%2F'],
    ['/%61pi/7/store', 200, 'a GET /api/7/envelope/'], // %61 is "a": unreserved, decoded before matching
    ['/api%2F7/store', 200, 'c GET /api%2F7/store'], // %2F stays encoded: no regex match, the "/" prefix
    ['/img/x.PNG', 200, 'b GET /img/x.PNG'], // caseInsensitive
    ['/packs/x.png', 200, 'c GET /packs/x.png'], // overridesRegex (nginx ^~) beats the .png regex
    ['/syncthing/rest/x?q=1', 200, 'a GET /rest/x?q=1'], // stripPrefix keeps the query
    ['/syncthing/', 200, 'a GET /'],
    ['/only/x', 200, 'a GET /only/x'],
    ['/favicon.icox', 200, 'c GET /favicon.icox'],
  ];
  for (const [path, status, body] of cases) {
    const r = await get(port, path);
    t.equal(r.status, status, path);
    t.equal(r.body, body, path);
    t.equal(r.headers['strict-transport-security'], HSTS, `${path}: HSTS`);
  }
  const post = await get(port, '/only/x', { method: 'POST', body: 'x' });
  t.equal(post.body, 'b POST /only/x', 'methods is a matching condition: POST goes to the POST route');
  const head = await get(port, '/only/x', { method: 'HEAD' });
  t.equal(head.status, 200, 'GET implies HEAD');
  t.equal(a.seen.at(-1)?.method, 'HEAD');
  const put = await get(port, '/only/x', { method: 'PUT', body: 'x' });
  t.equal(put.body, 'c PUT /only/x', 'a route whose methods do not fit is skipped: the "/" prefix takes it');
  const refused = await get(port, '/only/x', { method: 'PUT', body: 'x', headers: { host: 'app.test' } });
  t.equal(refused.status, 405, 'the path is served, not the method');
  t.equal(refused.headers.allow, 'GET, HEAD, POST');
  t.match(refused.body, /served for GET, HEAD, POST/);
  t.equal((await get(port, '/elsewhere', { method: 'PUT', headers: { host: 'app.test' } })).status, 404, 'no route for the path: 404');
  const slash = await get(port, '/syncthing?x=1');
  t.equal(slash.status, 301, 'a proxied prefix ending in "/" answers its bare form with 301 (nginx)');
  t.equal(slash.headers.location, `https://localhost:${port}/syncthing/?x=1`);
});

t.test('the same selection over h2: 405 with Allow, 301 to the slash form, regex rewrite', async (t) => {
  const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
  const { port } = await startEdge(t, config(a, b, c));
  const session = await h2Session(t, port);
  const put = await h2Request(session, { ':method': 'PUT', ':path': '/only/x', ':authority': 'app.test' }, 'x');
  t.equal(put.status, 405);
  t.equal(put.headers.allow, 'GET, HEAD, POST');
  t.equal(put.headers['strict-transport-security'], HSTS);
  const slash = await h2Request(session, { ':path': '/syncthing' });
  t.equal(slash.status, 301);
  t.equal(slash.headers.location, `https://localhost:${port}/syncthing/`);
  const api = await h2Request(session, { ':path': '/api/9/store' });
  t.equal(api.body, 'a GET /api/9/envelope/');
  const fav = await h2Request(session, { ':path': '/favicon.ico' });
  t.equal(fav.status, 204);
  session.close();
});

t.test('a path crafted against ^(a+)+$ is answered while other clients are served', async (t) => {
  const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
  const { port, logs } = await startEdge(t, config(a, b, c));
  // 8k "a"s and a "!": the backtracking engine would try ~2^8000 ways before giving up.
  const crafted = `/${'a'.repeat(8000)}!`;
  const others = Array.from({ length: 5 }, (_, i) => get(port, `/only/${i}`));
  const [evil, ...served] = await Promise.all([get(port, crafted), ...others]);
  t.equal(evil?.status, 200);
  t.equal(evil?.body, `c GET ${crafted}`, 'no match: the "/" prefix took it');
  t.strictSame(served.map((r) => r.body), [0, 1, 2, 3, 4].map((i) => `a GET /only/${i}`));
  const ok = await get(port, `/${'a'.repeat(8000)}`);
  t.equal(ok.body.slice(0, 2), 'a ', 'and the regex still matches what it should');
  const long = await get(port, `/${'a'.repeat(8192)}`);
  t.equal(long.status, 414, 'past 8 KiB a site with regex routes answers 414, as nginx');
  t.equal((await logs.next((l) => l.status === 414))?.reason, 'a path longer than 8192 bytes is not matched against regex routes');
  t.ok(logs.find((l) => l.path === crafted && l.status === 200), 'logged like any request');
});

t.test('route regexes compile on the linear engine; what it cannot run is refused', async (t) => {
  t.type(compileRouteRegex('^(a+)+$', false), RegExp);
  t.match(compileRouteRegex('^/(\\w+)/\\1$', false), /backreferences and lookarounds/);
  t.match(compileRouteRegex('^/(?=x)', false), /backreferences and lookarounds/);
  t.match(compileRouteRegex('^/(', false), /not a valid regular expression/);
  const ci = compileRouteRegex('^/Docs/[a-c]+\\.(?<ext>Md)$', true) as RegExp;
  t.ok(ci.test('/dOCS/AbC.mD'), 'caseInsensitive folds ASCII letters');
  t.equal(ci.exec('/docs/a.MD')?.groups?.ext, 'MD', 'named groups survive folding');
  t.notOk(ci.test('/docs/d.md'), 'ranges fold without widening');
  t.notOk((compileRouteRegex('^/x$', false) as RegExp).test('/X'));
});

t.test('an upgrade on a redirect route gets the redirect; on an upstream route it is proxied as before', async (t) => {
  const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
  const { port } = await startEdge(t, config(a, b, c));
  const hs = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://localhost\r\n\r\n';
  const slash = parseRaw(await rawTls(port, hs('/syncthing')));
  t.equal(slash.status, 301);
  t.strictSame(slash.headers.get('location'), [`https://localhost:${port}/syncthing/`]);
  const fav = parseRaw(await rawTls(port, hs('/favicon.ico')));
  t.equal(fav.status, 204);
  t.strictSame(fav.headers.get('strict-transport-security'), [HSTS]);
  t.equal(a.connections + c.connections, 0, 'no upstream was contacted');
});

t.test('h2: an extended CONNECT on a respond or slash-redirect route gets that answer with HSTS, and no upstream is contacted', async (t) => {
  const [a, b, c] = [await named(t, 'a'), await named(t, 'b'), await named(t, 'c')];
  const { port, logs } = await startEdge(t, config(a, b, c));
  const session = await h2Session(t, port);
  const connect = async (path: string): Promise<Record<string, string | string[] | undefined>> => {
    const stream = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':path': path, ':scheme': 'https', ':authority': 'localhost',
      'sec-websocket-version': '13', origin: 'https://localhost',
    }, { endStream: false });
    stream.on('error', () => undefined);
    const headers = await new Promise<Record<string, string | string[] | undefined>>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer to the CONNECT for ${path} within 3 s`)), 3000);
      stream.once('response', (h) => { clearTimeout(timer); resolve(h); });
    });
    stream.close();
    return headers;
  };
  const fav = await connect('/favicon.ico');
  t.equal(fav[':status'], 204, 'the respond route answers the CONNECT');
  t.equal(fav['strict-transport-security'], HSTS);
  const slash = await connect('/syncthing');
  t.equal(slash[':status'], 301, 'the slash 301 answers the CONNECT');
  t.equal(slash.location, `https://localhost:${port}/syncthing/`);
  t.ok(await logs.next((l) => l.event === 'websocket-answered' && l.protocol === 'h2' && l.path === '/favicon.ico'), 'logged as answered by its route');
  t.equal(a.connections + b.connections + c.connections, 0, 'no upstream was contacted');
});
