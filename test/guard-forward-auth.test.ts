import { once } from 'node:events';
import type { ClientHttp2Stream, IncomingHttpHeaders } from 'node:http2';
import t from 'tap';
import { loadConfig } from '../src/config/load.js';
import { startEdge, writeConfigFile } from './helpers/edge.js';
import { h2Get, h2Session } from './helpers/h2.js';
import { deadPort, get, parseRaw, rawTls } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

type Tap = Parameters<typeof startBackend>[0];

/**
 * An Authelia/oauth2-proxy-style verifier: a `session=good` cookie is alice (200 with
 * Remote-User), `Authorization: Bearer bad` is a 401 challenge, anything else a 302 to the login
 * page that remembers where the user was going, with a cookie of its own.
 */
async function startAuth(t: Tap) {
  return startBackend(t, (req, res) => {
    if ((req.headers.cookie ?? '').includes('session=good')) {
      res.writeHead(200, { 'remote-user': 'alice', 'remote-groups': 'admins', 'x-not-copied': 'x' }).end();
    } else if (req.headers.authorization === 'Bearer bad') {
      res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"', 'content-type': 'text/plain' }).end('bad token');
    } else {
      const back = `https://${String(req.headers['x-forwarded-host'])}${String(req.headers['x-forwarded-uri'])}`;
      res.writeHead(302, { location: `https://login.test/?rd=${encodeURIComponent(back)}`, 'set-cookie': 'flow=1; Secure', 'content-type': 'text/html' }).end('<a>login</a>');
    }
  });
}

function config(app: string, auth: string, route = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${app}"] }
  authelia: { targets: ["${auth}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /app/, upstream: app, auth: { forward: { upstream: authelia, path: /api/verify, copyHeaders: [Remote-User, Remote-Groups] } }${route} }
      - { path: /, upstream: app }
`;
}

t.test('without a session: the auth answer (302 to login, its cookie, its body) goes to the client as is, with HSTS', async (t) => {
  const app = await startBackend(t);
  const auth = await startAuth(t);
  const edge = await startEdge(t, config(app.address, auth.address));
  const reply = await get(edge.port, '/app/page?x=1', { method: 'POST', body: 'data', headers: { 'x-forwarded-for': '6.6.6.6' } });
  t.equal(reply.status, 302);
  t.equal(reply.headers.location, `https://login.test/?rd=${encodeURIComponent('https://localhost/app/page?x=1')}`);
  t.strictSame(reply.headers['set-cookie'], ['flow=1; Secure']);
  t.equal(reply.body, '<a>login</a>');
  t.match(reply.headers['strict-transport-security'], /max-age=/);
  t.equal(app.seen.length, 0, 'nothing reached the app');
  const asked = auth.seen[0];
  t.equal(asked?.method, 'GET');
  t.equal(asked?.url, '/api/verify');
  t.equal(asked?.headers['x-forwarded-method'], 'POST');
  t.equal(asked?.headers['x-forwarded-proto'], 'https');
  t.equal(asked?.headers['x-forwarded-host'], 'localhost');
  t.equal(asked?.headers['x-forwarded-uri'], '/app/page?x=1');
  t.equal(asked?.headers['x-forwarded-for'], '127.0.0.1', 'the untrusted client’s own X-Forwarded-For is gone');
  t.equal(asked?.headers['content-length'], undefined, 'the auth request has no body');
  const line = await edge.logs.next((l) => l.status === 302);
  t.equal(line?.rule, 'auth.forward authelia');
});

t.test('with a session: the request goes on carrying copyHeaders from the auth answer; the client’s own copies are removed', async (t) => {
  const app = await startBackend(t);
  const auth = await startAuth(t);
  const edge = await startEdge(t, config(app.address, auth.address));
  const reply = await get(edge.port, '/app/', { headers: { cookie: 'session=good', 'remote-user': 'mallory', 'Remote-Groups': 'root' } });
  t.equal(reply.status, 200);
  t.equal(app.seen[0]?.headers['remote-user'], 'alice');
  t.equal(app.seen[0]?.headers['remote-groups'], 'admins');
  t.equal(app.seen[0]?.headers['x-not-copied'], undefined);
  t.equal(auth.seen[0]?.headers['remote-user'], undefined, 'the spoofed header never reached the auth service either');
  const h2 = await h2Get(t, edge.port, { ':path': '/app/', cookie: 'session=good' });
  t.equal(h2.status, 200);
  t.equal(app.seen[1]?.headers['remote-user'], 'alice');
});

t.test('a 401 from the auth service is relayed with its challenge; on h2 too', async (t) => {
  const app = await startBackend(t);
  const auth = await startAuth(t);
  const edge = await startEdge(t, config(app.address, auth.address));
  const reply = await get(edge.port, '/app/', { headers: { authorization: 'Bearer bad' } });
  t.equal(reply.status, 401);
  t.equal(reply.headers['www-authenticate'], 'Bearer error="invalid_token"');
  t.equal(reply.body, 'bad token');
  const h2 = await h2Get(t, edge.port, { ':path': '/app/' });
  t.equal(h2.status, 302);
  t.equal(h2.body, '<a>login</a>');
  t.equal(app.seen.length, 0);
});

t.test('signIn: a 401 from the auth service becomes a 302 to the sign-in URL (nginx error_page 401 =302); other answers are untouched', async (t) => {
  const app = await startBackend(t);
  const auth = await startAuth(t);
  const signIn = (url: string): string => config(app.address, auth.address, ', websocket: { allowMissingOrigin: true }').replace('copyHeaders: [Remote-User, Remote-Groups]', `copyHeaders: [Remote-User], signIn: "${url}"`);
  const edge = await startEdge(t, signIn('/oauth2/start?rd={scheme}://{host}{uri}&ip={remote_addr}&ua={header.user-agent}'));
  const reply = await get(edge.port, '/app/page?x=1', { headers: { authorization: 'Bearer bad', 'user-agent': 'probe' } });
  t.equal(reply.status, 302);
  t.equal(reply.headers.location, '/oauth2/start?rd=https://localhost/app/page?x=1&ip=127.0.0.1&ua=probe');
  t.equal(reply.headers['www-authenticate'], undefined, 'the 401\'s own fields stay behind');
  t.equal(reply.body, '');
  t.match(reply.headers['strict-transport-security'], /max-age=/);
  const line = await edge.logs.next((l) => l.status === 302 && l.path === '/app/page?x=1');
  t.equal(line?.rule, 'auth.forward authelia signIn');
  const login = await get(edge.port, '/app/other');
  t.equal(login.status, 302, 'the auth service\'s own 302 still goes as it is');
  t.match(login.headers.location, /^https:\/\/login\.test\//);
  t.equal(login.body, '<a>login</a>');
  t.equal((await get(edge.port, '/app/', { headers: { cookie: 'session=good' } })).status, 200, 'a session passes');
  const h2 = await h2Get(t, edge.port, { ':path': '/app/h2', authorization: 'Bearer bad' });
  t.equal(h2.status, 302);
  t.equal(h2.headers.location, '/oauth2/start?rd=https://localhost/app/h2&ip=127.0.0.1&ua=');
  const raw = parseRaw(await rawTls(edge.port, 'GET /app/ws HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer bad\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
  t.equal(raw.status, 302, 'an upgrade gets the same 302');
  t.equal(raw.headers.get('location')?.[0], '/oauth2/start?rd=https://localhost/app/ws&ip=127.0.0.1&ua=');
  t.equal(app.seen.length, 1, 'only the signed-in request reached the app');

  const absolute = await startEdge(t, signIn('https://auth.example.com/?rd={scheme}://{host}{uri}'));
  t.equal((await get(absolute.port, '/app/a', { headers: { authorization: 'Bearer bad' } })).headers.location, 'https://auth.example.com/?rd=https://localhost/app/a');

  for (const [url, message] of [
    ['login', /expected an absolute URL .* or a path on this host/],
    ['//evil.example/', /"\/\/host" leaves this host/],
    ['/start?rd={rest}', /\{rest\} is not known when auth decides/],
    ['/start?id={request_id}', /\{request_id\} is not known when auth decides/],
    ['/start?rd={nope}', /nope/],
  ] as const) {
    const { file } = await writeConfigFile(t, signIn(url));
    const loaded = await loadConfig(file);
    t.equal(loaded.config, undefined, `${url} is refused`);
    const problem = loaded.problems.find((p) => message.test(p.message));
    t.ok(problem, `${url}: ${JSON.stringify(loaded.problems)}`);
    t.ok((problem?.line ?? 0) > 0 && (problem?.col ?? 0) > 0, 'with its line and column');
  }
});

t.test('an unreachable auth service is a 502 with the upstream code, never a pass', async (t) => {
  const app = await startBackend(t);
  const edge = await startEdge(t, config(app.address, `127.0.0.1:${await deadPort()}`));
  const reply = await get(edge.port, '/app/', { headers: { cookie: 'session=good' } });
  t.equal(reply.status, 502);
  const line = await edge.logs.next((l) => l.status === 502);
  t.match(line?.code, /^EDGE_ERR_(UPSTREAM_CONNECT|NO_HEALTHY_TARGET)$/, 'the upstream path’s own code');
  t.equal(app.seen.length, 0);
});

t.test('upgrades are decided before any tunnel: refused with the auth answer, or admitted with copyHeaders', async (t) => {
  const ws = await startWsBackend(t);
  const auth = await startAuth(t);
  const edge = await startEdge(t, config(ws.address, auth.address, ', websocket: { allowMissingOrigin: true }'));
  const raw = parseRaw(await rawTls(edge.port, 'GET /app/ws HTTP/1.1\r\nHost: localhost\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n'));
  t.equal(raw.status, 302);
  t.match(raw.headers.get('location')?.[0], /^https:\/\/login\.test\//);
  t.match(raw.headers.get('strict-transport-security')?.[0], /max-age=/);
  t.equal(raw.body, '<a>login</a>');
  t.equal(ws.connections, 0, 'the WebSocket upstream was never contacted');
  const open = await openWs(edge.port, '/app/ws', { headers: { cookie: 'session=good', 'remote-user': 'mallory' } });
  t.equal(await roundTrip(open, 'hi'), 'ws:hi');
  open.close();
  t.equal(ws.upgrades[0]?.headers['remote-user'], 'alice');
});

t.test('RFC 8441 WebSockets over h2 meet the same door: the auth answer on the stream, or a tunnel with copyHeaders', async (t) => {
  const ws = await startWsBackend(t);
  const auth = await startAuth(t);
  const edge = await startEdge(t, config(ws.address, auth.address, ', websocket: { allowMissingOrigin: true }'));
  const session = await h2Session(t, edge.port);
  if (session.remoteSettings.enableConnectProtocol !== true) await within(5_000, once(session, 'remoteSettings'), 'SETTINGS from the edge on session');
  const connect = async (cookie?: string): Promise<{ status: number; headers: IncomingHttpHeaders; stream: ClientHttp2Stream }> => {
    const stream = session.request({
      ':method': 'CONNECT', ':protocol': 'websocket', ':path': '/app/ws', ':scheme': 'https', ':authority': 'localhost',
      'sec-websocket-version': '13', ...(cookie === undefined ? {} : { cookie }),
    }, { endStream: false });
    stream.on('error', () => undefined);
    const [headers] = (await within(5_000, once(stream, 'response'), 'the response head on stream')) as [IncomingHttpHeaders];
    return { status: Number(headers[':status']), headers, stream };
  };
  const refused = await connect();
  t.equal(refused.status, 302);
  t.match(refused.headers.location, /^https:\/\/login\.test\//);
  t.match(refused.headers['strict-transport-security'], /max-age=/);
  t.equal(ws.connections, 0);
  const admitted = await connect('session=good');
  t.equal(admitted.status, 200);
  admitted.stream.close();
  t.equal(ws.upgrades[0]?.headers['remote-user'], 'alice');
});
