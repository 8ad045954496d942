import { spawn } from 'node:child_process';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer as createHttpsServer, type ServerOptions } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import t from 'tap';
import { WebSocketServer } from 'ws';
import { makeLeaf } from '../scripts/certs.mjs';
import { startEdge, tempDir } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { deadPort } from './helpers/net.js';
import { CLI } from './helpers/process.js';
import { UsageError } from '../src/tools/command.js';
import { liveCommand, LIVE_OPTIONS } from '../src/tools/live-check.js';
import { skipWithout } from './helpers/tools.js';
import { startBackend, startUpstream, startWsBackend, type Answer } from './helpers/upstream.js';

type Tap = Parameters<typeof tempDir>[0];

/**
 * The command in process, argv parsed as cli.ts does; a usage error is code 2. Spawning node for
 * every case costs seconds each on a busy machine; `cli` below proves the wiring a few times.
 */
async function live(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  try {
    return await liveCommand(parseArgs({ args: withLive(args), options: LIVE_OPTIONS, strict: true }).values);
  } catch (err) {
    if (err instanceof UsageError || (err as NodeJS.ErrnoException).code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') return { code: 2, stdout: '', stderr: (err as Error).message };
    throw err;
  }
}

/** The built CLI, asynchronously: the edge under test runs in this process and must keep answering. */
function cli(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'check', ...withLive(args)], { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return once(child, 'close').then(([code]) => ({ code: code as number | null, stdout, stderr }));
}

/** --live first, as a user types it. */
function withLive(args: readonly string[]): string[] {
  return ['--live', ...args];
}

/** The lines starting with `level`, without it. */
function lines(stdout: string, level: 'ok' | 'warn' | 'FAIL'): string[] {
  return stdout.split('\n').filter((l) => l.startsWith(`${level} `)).map((l) => l.slice(4).trim());
}

/** A deliberately bad edge: plain Node https, TLS 1.2 welcome, no HSTS, every Host served, every upgrade accepted. */
async function badEdge(t: Tap, tls: ServerOptions, handler: (req: IncomingMessage, res: ServerResponse) => void, upgrades = true): Promise<number> {
  const server = createHttpsServer({ minVersion: 'TLSv1.2', ...tls }, handler);
  const wss = new WebSocketServer(upgrades ? { server } : { noServer: true });
  wss.on('connection', (ws) => ws.close());
  // Without a WebSocket server Node answers an upgrade like any request: through `handler`.
  if (!upgrades) server.on('upgrade', (_req: IncomingMessage, socket: Socket) => socket.end('HTTP/1.1 404 Not Found\r\nstrict-transport-security: max-age=600\r\ncontent-length: 0\r\n\r\n'));
  server.on('tlsClientError', () => undefined);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => { for (const c of wss.clients) c.terminate(); server.closeAllConnections(); server.close(() => resolve()); }));
  return (server.address() as AddressInfo).port;
}

async function plainServer(t: Tap, handler: Answer): Promise<number> {
  return (await startUpstream(t, { answer: handler })).port;
}

t.test('against Gatehouse every check is ok and the exit code 0', async (t) => {
  const backend = await startBackend(t);
  const { addresses, certs } = await startEdge(t, `
listen: { http: "127.0.0.1:0", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }, { path: /ws, upstream: app }] }]
`);
  const https = addresses.https.port;
  const http = addresses.http?.port ?? 0;
  const r = await cli(`https://localhost:${https}/`, '--http', `http://localhost:${http}/`, '--ca', certs.ca.cert, '--ws', '/ws', '--connect', '127.0.0.1');
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.strictSame(lines(r.stdout, 'warn').concat(lines(r.stdout, 'FAIL')), [], 'nothing but ok');
  const expected = [
    'TLS 1.3 handshake works', 'TLS 1.2 refused', 'certificate is valid for localhost', 'certificate chain is trusted by ' + certs.ca.cert,
    'certificate expires', 'HSTS on /', 'HSTS on a generated error', 'plain HTTP redirects with path and query kept', 'no HSTS over plain HTTP',
    'foreign-Origin WebSocket upgrade on /ws refused',
  ];
  const ok = lines(r.stdout, 'ok');
  t.equal(ok.length, expected.length, 'one line per check');
  expected.forEach((start, i) => t.ok(ok[i]?.startsWith(start), `line ${i + 1}: ${start}`));
  t.match(r.stdout, /ok +HSTS on a generated error \(Host: gatehouse-check-[0-9a-f]{8}\.invalid\): max-age=31536000 \(421\)/);
  t.match(r.stdout, `301 to https://localhost:${https}/gatehouse-check/a%20b?q=1&next=%2Fx`);
  t.match(r.stdout, /refused \(403\)/);
  t.equal(backend.seen.filter((s) => s.headers.upgrade !== undefined).length, 0, 'the foreign upgrade never reached the upstream');

  const untrusted = await live(`https://localhost:${https}/`, '--connect', '127.0.0.1', '--timeout', '3s');
  t.equal(untrusted.code, 1, 'without --ca the test CA is not a system root');
  t.match(untrusted.stdout, /FAIL certificate chain is not trusted by the system roots: SELF_SIGNED_CERT_IN_CHAIN/);
  t.match(untrusted.stdout, /FAIL HSTS on \/: .*certificate/, 'the HTTP probes verify like any client');
  t.notMatch(untrusted.stdout, /plain HTTP/, 'without --http no plain-HTTP probe');
});

t.test('a plain Node https server without HSTS that takes TLS 1.2: FAIL lines and exit 1', async (t) => {
  const certs = await testCerts();
  const port = await badEdge(t, { cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, (_req, res) => res.end('hello'));
  const plain = await plainServer(t, (_req, res) => res.setHeader('strict-transport-security', 'max-age=31536000').end('no redirect'));
  const r = await cli(`https://localhost:${port}/`, '--http', `http://localhost:${plain}/`, '--ca', certs.ca.cert, '--ws', '/', '--connect', '127.0.0.1');
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.match(lines(r.stdout, 'ok'), ['TLS 1.3 handshake works (TLS_AES_256_GCM_SHA384)', 'certificate is valid for localhost']);
  t.match(lines(r.stdout, 'FAIL'), [
    /^TLS 1\.2 accepted \(TLS_ECDHE_/,
    'HSTS on /: none on the 200 answer',
    /^HSTS on a generated error \(Host: .*\.invalid\): none on the 200 answer/,
    /^plain HTTP GET \/gatehouse-check\/a%20b\?q=1&next=%2Fx: 200 without Location/,
    /^HSTS sent over plain HTTP \("max-age=31536000"\): RFC 6797 §7\.2/,
    /^foreign-Origin WebSocket upgrade on \/ was accepted \(101\)/,
  ]);
});

t.test('a certificate with under 14 days left, or for another name, is a FAIL', async (t) => {
  const certs = await testCerts();
  const dir = tempDir(t);
  const soon = makeLeaf(dir, { ca: certs.ca, basename: 'soon', sans: ['localhost'], notAfter: new Date(Date.now() + 5 * 86_400_000) });
  const hsts = (_req: IncomingMessage, res: ServerResponse): void => { res.setHeader('strict-transport-security', 'max-age=63072000; includeSubDomains').end(); };
  const port = await badEdge(t, { minVersion: 'TLSv1.3', cert: readFileSync(soon.fullchain), key: readFileSync(soon.key) }, hsts);
  const r = await live(`https://localhost:${port}/`, '--ca', certs.ca.cert, '--connect', '127.0.0.1');
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.strictSame(lines(r.stdout, 'FAIL').map((l) => l.replace(/ \d{4}-.*?Z \(in \d days\)/, ' DATE')), ['certificate expires DATE: under 14 days, renew now']);
  t.match(lines(r.stdout, 'ok'), ['TLS 1.3 handshake works', 'TLS 1.2 refused', 'certificate is valid for localhost', /^certificate chain is trusted/, 'HSTS on /: max-age=63072000; includeSubDomains (200)']);

  const other = await badEdge(t, { minVersion: 'TLSv1.3', cert: readFileSync(certs.b.cert), key: readFileSync(certs.b.key) }, hsts);
  const wrong = await live(`https://localhost:${other}/`, '--ca', certs.ca.cert, '--connect', '127.0.0.1');
  t.equal(wrong.code, 1);
  t.match(lines(wrong.stdout, 'FAIL'), [/^certificate is not valid for localhost: .*other\.test/]);
});

t.test('a short max-age and a WebSocket path that is no route are warnings: exit 0', async (t) => {
  const certs = await testCerts();
  const port = await badEdge(t, { minVersion: 'TLSv1.3', cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, (req, res) => {
    res.setHeader('strict-transport-security', 'max-age="600"');
    res.writeHead(req.headers.host === `localhost:${port}` ? 200 : 404).end();
  }, false);
  const r = await live(`https://localhost:${port}/`, '--ca', certs.ca.cert, '--connect', '127.0.0.1', '--ws', '/nowhere');
  t.equal(r.code, 0, r.stdout + r.stderr);
  t.strictSame(lines(r.stdout, 'FAIL'), []);
  t.match(lines(r.stdout, 'warn'), [
    'HSTS on /: max-age="600" (200): max-age under 1 year (31536000)',
    /^HSTS on a generated error .*\(404\): max-age under 1 year/,
    'foreign-Origin WebSocket upgrade on /nowhere: 404, so /nowhere may not be a WebSocket route and the Origin check was not exercised',
  ]);
});

t.test('a redirect that loses the query is a FAIL, one to another port a warning', async (t) => {
  const certs = await testCerts();
  const hsts = (_req: IncomingMessage, res: ServerResponse): void => { res.setHeader('strict-transport-security', 'max-age=31536000').end(); };
  const port = await badEdge(t, { minVersion: 'TLSv1.3', cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, hsts);
  const dropsQuery = await plainServer(t, (req, res) => res.writeHead(308, { location: `https://localhost:${port}${(req.url ?? '').split('?')[0] ?? ''}` }).end());
  const r = await live(`https://localhost:${port}/`, '--http', `http://localhost:${dropsQuery}/`, '--ca', certs.ca.cert, '--connect', '127.0.0.1');
  t.equal(r.code, 1, r.stdout + r.stderr);
  t.strictSame(lines(r.stdout, 'FAIL'), [`plain HTTP redirect drops the scheme, host, path or query: 308 to https://localhost:${port}/gatehouse-check/a%20b`]);
  const otherPort = await plainServer(t, (req, res) => res.writeHead(301, { location: `https://localhost${req.url ?? ''}` }).end());
  const moved = await live(`https://localhost:${port}/`, '--http', `http://localhost:${otherPort}/`, '--ca', certs.ca.cert, '--connect', '127.0.0.1');
  t.equal(moved.code, 0, moved.stdout + moved.stderr);
  t.strictSame(lines(moved.stdout, 'warn'), [`plain HTTP redirect keeps path and query but names port 443, not ${port}: 301 to https://localhost/gatehouse-check/a%20b?q=1&next=%2Fx`]);
});

t.test('every probe is bounded: a silent peer gets FAIL lines after --timeout, exit 1', async (t) => {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => { sockets.add(s); s.on('error', () => undefined); });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  const port = (server.address() as AddressInfo).port;
  const r = await live(`https://localhost:${port}/`, '--http', `http://localhost:${port}/`, '--ws', '/ws', '--connect', '127.0.0.1', '--timeout', '300ms');
  t.equal(r.code, 1, r.stdout + r.stderr);
  const failed = lines(r.stdout, 'FAIL');
  t.equal(failed.length, 7, r.stdout);
  t.equal(failed.filter((l) => l.endsWith('no answer within 0.3s')).length, 6, 'each of the six network probes reports its timeout');
  t.match(failed, ['TLS 1.3 handshake failed: no answer within 0.3s', 'TLS 1.2 probe: no answer within 0.3s', 'certificate: no handshake completed, nothing to check']);
});

t.test('usage errors exit 2', async (t) => {
  const certs = await testCerts();
  const cases: [string[], string][] = [
    [['http://localhost/'], '--live needs an https:// URL, got "http://localhost/"'],
    [['https://localhost/', '--http', 'https://localhost/'], '--http needs an http:// URL'],
    [['https://localhost/', '--timeout', 'soon'], '--timeout "soon" is not a duration'],
    [['https://localhost/', '--ca', '/nonexistent/ca.pem'], 'cannot read --ca /nonexistent/ca.pem: ENOENT'],
    [['https://localhost/', '--ca', certs.garbage], `--ca ${certs.garbage} holds no PEM certificate`],
    [['https://localhost/', '--ws', '/a b'], '--ws "/a b" must be a path like /ws'],
    [['https://localhost/', '--config', 'x.yaml'], "Unknown option '--config'"],
  ];
  for (const [args, message] of cases) {
    const r = await live(...args);
    t.equal(r.code, 2, message);
    t.match(r.stderr, message);
  }
  const viaCli = await cli('http://localhost/');
  t.equal(viaCli.code, 2, 'the CLI exits 2 on a usage error');
  t.match(viaCli.stderr, /--live needs an https:\/\/ URL[^]*Usage:/);
});

const NGINX = '/usr/sbin/nginx';

t.test('against nginx (TLS 1.3 only, HSTS always, redirect): what it reports', { skip: skipWithout(existsSync(NGINX), `${NGINX} is not installed`) }, async (t) => {
  const certs = await testCerts();
  const dir = tempDir(t);
  const ws = await startWsBackend(t);
  const [https, http] = [await deadPort(), await deadPort()];
  mkdirSync(join(dir, 'tmp'));
  writeFileSync(join(dir, 'nginx.conf'), `
pid ${dir}/nginx.pid;
error_log ${dir}/error.log;
events {}
http {
  access_log off;
  client_body_temp_path ${dir}/tmp; proxy_temp_path ${dir}/tmp; fastcgi_temp_path ${dir}/tmp; uwsgi_temp_path ${dir}/tmp; scgi_temp_path ${dir}/tmp;
  server {
    listen 127.0.0.1:${https} ssl;
    server_name localhost;
    ssl_certificate ${certs.a.cert};
    ssl_certificate_key ${certs.a.key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
    location / { return 200 "hello\\n"; }
    location /ws {
      proxy_pass http://${ws.address};
      proxy_http_version 1.1;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection "upgrade";
    }
  }
  server {
    listen 127.0.0.1:${http};
    server_name localhost;
    return 301 https://$host:${https}$request_uri;
  }
}
`);
  const nginx = spawn(NGINX, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off; master_process off;'], { stdio: 'ignore' });
  t.teardown(() => { if (nginx.exitCode === null) nginx.kill('SIGKILL'); });
  await until(() => nginx.exitCode !== null || existsSync(join(dir, 'nginx.pid')));
  if (nginx.exitCode !== null) {
    t.fail(`nginx did not start: ${readFileSync(join(dir, 'error.log'), 'utf8')}`);
    return;
  }
  const r = await live(`https://localhost:${https}/`, '--http', `http://localhost:${http}/`, '--ca', certs.ca.cert, '--ws', '/ws', '--connect', '127.0.0.1');
  t.comment(r.stdout);
  t.equal(r.code, 1, 'nginx fails exactly one check');
  t.strictSame(lines(r.stdout, 'FAIL'), ["foreign-Origin WebSocket upgrade on /ws was accepted (101): any web page can open it with the user's cookies"],
    'nginx has no Origin check: it relays any upgrade');
  t.match(lines(r.stdout, 'ok'), [
    'TLS 1.3 handshake works', 'TLS 1.2 refused', 'certificate is valid for localhost', /^certificate chain is trusted/, /^certificate expires/,
    'HSTS on /: max-age=31536000 (200)', /^HSTS on a generated error \(Host: .*\): max-age=31536000 \(200\)/,
    `plain HTTP redirects with path and query kept: 301 to https://localhost:${https}/gatehouse-check/a%20b?q=1&next=%2Fx`, 'no HSTS over plain HTTP',
  ]);
  t.equal(ws.upgrades.length, 1, 'the foreign-Origin upgrade reached the backend');
});

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 100 && !pred(); i++) await new Promise((r) => setTimeout(r, 50));
}
