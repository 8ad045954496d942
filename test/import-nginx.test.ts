import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '../src/config/load.js';
import { emitYaml } from '../src/import/nginx/emit.js';
import { readNginx } from '../src/import/nginx/parse.js';
import { translateNginx } from '../src/import/nginx/translate.js';
import { importNginxCommand } from '../src/tools/import-nginx.js';
import { testCerts } from './helpers/certs.js';
import { CLI } from './helpers/process.js';

// Paths as the CLI run from the repository root writes them, so reports read like a user's.
const DIR = 'test/fixtures/nginx';
const CORPUS = [
  ...readdirSync(DIR).filter((f) => f.endsWith('.conf')).map((f) => join(DIR, f)),
  join(DIR, 'debian/sites-enabled/app.example.com'),
  join(DIR, 'stock/nginx.conf'),
];
// Problems that belong to this machine, not to the translation: files the config names that
// are not here (htpasswd), and top-level keys of branches not merged yet (the response cache).
const LOADER_KNOWS_CACHE = !parseConfig('cache: {}\n', '/tmp/probe.yaml').problems.some((p) => /unknown key "cache"/.test(p.message));
const ENVIRONMENT = [/^cannot read /, ...(LOADER_KNOWS_CACHE ? [] : [/unknown key "cache"/])];

function imported(file: string): { yaml: string; lines: string[]; code: number; config: Record<string, unknown> } {
  const tr = translateNginx(readNginx(file));
  return { yaml: emitYaml(tr, [file]), lines: tr.report.lines(), code: tr.report.exitCode(), config: tr.config };
}

t.test('every corpus config imports with its expected report and exit code, and loads with Gatehouse\'s loader', async (t) => {
  t.ok(CORPUS.length >= 20, `${CORPUS.length} configs`);
  let clean = 0;
  for (const file of CORPUS) {
    const { yaml, lines, code } = imported(file);
    const expectedFile = `${file.replace(/\.conf$/, '')}.report`;
    const actual = `${[...lines, `exit ${code}`].join('\n')}\n`;
    if (process.env.UPDATE_REPORTS === '1') writeFileSync(expectedFile, actual);
    t.ok(existsSync(expectedFile), `${expectedFile} exists (UPDATE_REPORTS=1 writes it)`);
    t.equal(actual, readFileSync(expectedFile, 'utf8'), `report of ${file}`);
    if (!lines.some((l) => / {2}unsupported {2}/.test(l))) clean++;
    const problems = parseConfig(yaml, join(process.cwd(), 'gatehouse.yaml')).problems
      .filter((p) => p.severity === 'error' && !ENVIRONMENT.some((re) => re.test(p.message)));
    // php-fpm.conf has nothing Gatehouse can serve: its only site is gone, and the loader says so.
    if (file.endsWith('php-fpm.conf')) t.match(problems, [{ message: /at least one site/ }]);
    else t.strictSame(problems, [], `${file} loads:\n${yaml}`);
  }
  t.comment(`${clean} of ${CORPUS.length} import with no unsupported line`);
});

const sites = (c: Record<string, unknown>): Array<Record<string, unknown>> => c.sites as Array<Record<string, unknown>>;
const routes = (c: Record<string, unknown>, i = 0): Array<Record<string, unknown>> => sites(c)[i]?.routes as Array<Record<string, unknown>>;

t.test('proxy_pass with a URI part: the prefix-strip rule as stripPrefix or rewrite {rest}', async (t) => {
  const { config } = imported(join(DIR, 'syncthing.conf'));
  t.match(routes(config), [
    { path: '/syncthing/', upstream: 'tools', stripPrefix: true, timeouts: { response: '10m' } },
    { path: '/status/', upstream: 'tools_3001', rewrite: '/dashboard/{rest}' },
    { exact: '/robots.txt', respond: { body: 'User-agent: *\nDisallow: /\n' } },
  ]);
  const jf = imported(join(DIR, 'jellyfin.conf')).config;
  t.match(routes(jf).find((r) => r.exact === '/web/'), { rewrite: '/web/index.html' }, 'an exact location takes the URI whole');
});

t.test('locations keep nginx\'s modifiers; a rewrite on the location\'s regex uses its captures', async (t) => {
  const { config } = imported(join(DIR, 'sentry.conf'));
  t.match(routes(config), [
    { regex: '^/api/(?<project>\\d+)/store/?$', upstream: 'relay', rewrite: '/api/{re.project}/envelope/', rewriteLocation: false },
    { regex: '^/api/[1-9]\\d*/', upstream: 'relay' },
    { path: '/api/0/relays/', overridesRegex: true },
    { path: '/', upstream: 'sentry' },
    { path: '/_static/', headers: { response: { remove: ['Content-Disposition'] } } },
  ]);
  t.match(config, { timeouts: undefined }, 'server-level timeouts go to the routes');
  t.match(routes(config)[0], { timeouts: { response: '30s' }, limits: { bodySize: '100m' } });
  const grafana = imported(join(DIR, 'grafana.conf')).config;
  t.match(routes(grafana), [{ path: '/grafana/', rewrite: '/{rest}' }, { path: '/grafana/api/live/', rewrite: '/api/live/{rest}' }, { exact: '/', redirect: { to: '/grafana/', status: 302 } }]);
});

t.test('listeners: 8448 joins listen.https; no plain-HTTP server means listen.http: false', async (t) => {
  const { config } = imported(join(DIR, 'synapse.conf'));
  t.match(config.listen, { http: false, https: [443, 8448] });
  t.match(routes(config)[1], { exact: '/.well-known/matrix/server', respond: { body: '{{"m.server": "matrix.example.com:443"}}', headers: { 'Content-Type': 'application/json' } } });
});

t.test('the certbot-managed :80 server becomes the default redirect; the acme webroot is kept', async (t) => {
  const certbot = imported(join(DIR, 'certbot-managed.conf'));
  t.equal(sites(certbot.config).length, 1);
  t.equal(sites(certbot.config)[0]?.plainHttp, undefined, ':80 redirects (the default)');
  t.match(certbot.config.listen, { http: 80 });
  t.match(certbot.yaml, /ACME|acme/, 'the header says Gatehouse can obtain the certificates itself');
  t.match(imported(join(DIR, 'peertube.conf')).config, { redirect: { acmeWebroot: '/var/www/certbot' } });
});

t.test('upstream blocks: unix sockets, ip_hash and hash $remote_addr consistent, keepalive, passive health', async (t) => {
  t.match(imported(join(DIR, 'discourse.conf')).config.upstreams, { forum: { targets: ['unix:/var/discourse/shared/standalone/nginx.http.sock'] } });
  t.match(imported(join(DIR, 'stock/nginx.conf')).config.upstreams, { api: { targets: ['10.0.0.11:8080', '10.0.0.12:8080'], hash: { ipv4Prefix: 24, ipv6Prefix: 128 }, failTimeout: '30s', keepalive: 32 } });
  const lb = imported(join(DIR, 'loadbalanced.conf'));
  t.match(lb.config.upstreams, { web: { targets: ['10.1.0.10:8080', '10.1.0.11:8080'], backup: ['10.1.0.12:8080'], maxFails: 2, failTimeout: '15s' }, chat: { hash: { ipv4Prefix: 32 }, keepalive: 16, keepaliveTimeout: '30s' } });
  t.equal(lb.code, 0, 'the backup server is upstreams.web.backup');
});

t.test('headers: forwarded and upgrade lines dropped, the rest kept; HSTS to hsts; the add_header trap named', async (t) => {
  const ghost = imported(join(DIR, 'ghost.conf'));
  t.match(ghost.config.hsts, { maxAge: '1y', includeSubDomains: true });
  t.match(sites(ghost.config)[1], { headers: { response: { set: { 'X-Content-Type-Options': 'nosniff' } } } });
  t.ok(ghost.lines.some((l) => /add_header Cache-Control public always {2}translated-with-difference {2}the server's add_header X-Content-Type-Options still apply here/.test(l)));
  const api = imported(join(DIR, 'stock/nginx.conf'));
  t.match(routes(api.config)[0], { path: '/v1/', upstream: 'api', stripPrefix: true, headers: { request: { set: { 'X-Request-Id': '{request_id}' } } }, timeouts: { connect: '5s', response: '2m' } });
  const nc = imported(join(DIR, 'nextcloud.conf'));
  t.match(routes(nc.config)[0], { headers: { request: { set: { 'X-Forwarded-Port': '{port}', 'X-Forwarded-Scheme': '{scheme}' }, remove: ['Accept-Encoding'] } } });
  t.equal(nc.code, 0);
});

t.test('if idioms: CORS preflight and method lists become routes; plain HTTP served with scheme: http routes', async (t) => {
  t.match(routes(imported(join(DIR, 'cors-api.conf')).config), [
    { path: '/v1/', methods: ['OPTIONS'], respond: { status: 204 } },
    { path: '/v1/', upstream: 'api' },
    { path: '/upload', access: { methods: ['POST', 'PUT'] }, limits: { bodySize: '200m' } },
  ]);
  const ha = imported(join(DIR, 'homeassistant.conf')).config;
  t.match(sites(ha)[0], { plainHttp: 'serve' });
  t.match(routes(ha), [{ scheme: 'http', methods: ['GET'], redirect: { to: 'https://{host}{uri}', status: 302 } }, { scheme: 'http', upstream: 'ha' }, { upstream: 'ha' }]);
});

/** An inline server block imported from a temp file: its routes and report lines. */
function importText(t: Test, server: string): { routes: Array<Record<string, unknown>>; lines: string[] } {
  const dir = mkdtempSync(join(tmpdir(), 'gh-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'site.conf'), `server {\n  listen 443 ssl;\n  server_name app.test;\n  ssl_certificate /c.pem;\n  ssl_certificate_key /k.pem;\n${server}\n}\n`);
  const { config, lines } = imported(join(dir, 'site.conf'));
  return { routes: (config.sites as Array<Record<string, unknown>> | undefined)?.[0]?.routes as Array<Record<string, unknown>> | undefined ?? [], lines: lines.map((l) => l.replace(/^.*site\.conf:/, '')) };
}

t.test('a location of allow/deny only: a route with that access, 403 for deny all, 404 for those it admits', async (t) => {
  const django = imported(join(DIR, 'compare-django.conf'));
  t.match(routes(django.config).find((r) => r.regex !== undefined), { regex: '/\\.(git|env|ht)', access: { deny: ['0.0.0.0/0', '::/0'] }, respond: { status: 403 } });
  t.equal(django.code, 0);
  const some = importText(t, '  location /ops/ { allow 10.0.0.0/8; deny all; access_log off; }\n  location / { proxy_pass http://127.0.0.1:3000; }');
  t.match(some.routes[0], { path: '/ops/', access: { allow: ['10.0.0.0/8'] }, respond: { status: 404 } });
  t.match(some.lines, [/^6 {2}location \/ops\/ {2}translated-with-difference {2}the addresses allowed here get 404/]);
  const status = importText(t, '  location /status { allow 127.0.0.1; deny all; stub_status; }\n  location / { proxy_pass http://127.0.0.1:3000; }');
  t.strictSame(status.routes.map((r) => r.path), ['/'], 'stub_status is more than access: no route');
  t.ok(status.lines.some((l) => /location \/status {2}unsupported/.test(l)), status.lines.join('\n'));
});

t.test('try_files /dev/null @named: the route is the named location\'s proxy, limits, timeouts and headers', async (t) => {
  const pt = imported(join(DIR, 'peertube.conf'));
  t.match(routes(pt.config)[0], { path: '/', upstream: 'backend', limits: { bodySize: '100k' }, timeouts: { response: '10m', connect: '10m', idle: '10m' }, headers: { request: { set: { Host: '{host}' } } } });
  t.equal(pt.code, 0);
  t.notOk(pt.lines.some((l) => /peertube\.conf:(3\d|4\d) /.test(l) && !/send_timeout/.test(l)), pt.lines.join('\n'));
  const missing = importText(t, '  location / { try_files /dev/null @nowhere; }');
  for (const re of [/^6 {2}location \/ {2}unsupported {2}not translated: see the lines below$/, /^6 {2}try_files \/dev\/null @nowhere {2}unsupported {2}no `location @nowhere` in this server$/]) {
    t.ok(missing.lines.some((l) => re.test(l)), `${String(re)} in\n${missing.lines.join('\n')}`);
  }
  const app = importText(t, '  root /srv/www;\n  location / { try_files $uri @app; }\n  location @app { proxy_pass http://127.0.0.1:3000; }');
  t.match(app.routes, [{ path: '/', files: { root: '/srv/www', tryFiles: ['{path}'], fallback: 'app' } }], 'files, then the named location: the fallback');
});

t.test('Gitea\'s sub-path idiom (rewrite ^ $request_uri; … break; proxy_pass …$uri) is stripPrefix; other variables stay', async (t) => {
  const gitea = imported(join(DIR, 'gitea.conf'));
  t.match(routes(gitea.config)[1], { path: '/mirror/', upstream: 'git_3001', stripPrefix: true, limits: { bodySize: '512m' } });
  t.equal(routes(gitea.config)[1]?.rewrite, undefined);
  t.equal(gitea.code, 0);
  const idiom = (prefix: string, re: string, pass: string): string => `  location ${prefix} {\n    rewrite ^ $request_uri;\n    rewrite ${re} $1 break;\n    proxy_pass ${pass};\n  }`;
  const others: Array<[string, string, string]> = [['/mirror/', '^/other(/.*)', 'http://127.0.0.1:3001$uri'], ['/mirror', '^/mirror(/.*)', 'http://127.0.0.1:3001$uri'], ['/mirror/', '^/mirror(/.*)', 'http://127.0.0.1:3001$request_uri$is_args']];
  for (const [prefix, re, pass] of others) {
    const other = importText(t, idiom(prefix, re, pass));
    t.strictSame(other.routes, [], `${prefix} ${re} ${pass}: not the idiom, not a route`);
    t.ok(other.lines.some((l) => / {2}unsupported {2}/.test(l)), other.lines.join('\n'));
  }
});

t.test('the command: YAML on stdout, report on stderr, exit 2 with FILE:LINE:COL on a parse error', async (t) => {
  const ok = await importNginxCommand({}, ['nginx', join(DIR, 'syncthing.conf')]);
  t.equal(ok.code, 0);
  t.match(ok.stdout, /sites:/);
  const bad = await importNginxCommand({}, ['nginx', join(DIR, 'debian/snippets/ssl-params.conf'), join(DIR, 'sentry.report')]);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /sentry\.report:\d+:\d+ /);
  await t.rejects(importNginxCommand({}, ['apache', 'x']), { name: 'UsageError' });
  await t.rejects(importNginxCommand({ compare: true }, ['nginx', 'x']), { name: 'UsageError' });
});

t.test('the CLI writes --out, and gatehouse check accepts the import with real certificate files', async (t) => {
  const certs = await testCerts();
  const dir = mkdtempSync(join(tmpdir(), 'gh-import-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'site.conf'), [
    'server { listen 80; server_name app.test; return 301 https://$host$request_uri; }',
    'server {',
    '  listen 443 ssl http2; server_name app.test;',
    `  ssl_certificate ${certs.a.cert}; ssl_certificate_key ${certs.a.key};`,
    '  location / { proxy_pass http://127.0.0.1:3000; proxy_set_header Host $host; }',
    '}',
  ].join('\n'));
  const out = join(dir, 'gatehouse.yaml');
  const imported = spawnSync(process.execPath, [CLI, 'import', 'nginx', join(dir, 'site.conf'), '--out', out], { encoding: 'utf8', timeout: 20_000 });
  t.equal(imported.status, 0, imported.stderr);
  t.equal(imported.stdout, '', 'with --out, nothing on stdout');
  const check = spawnSync(process.execPath, [CLI, 'check', '--config', out], { encoding: 'utf8', timeout: 20_000 });
  t.equal(check.status, 0, `${check.stdout}${check.stderr}`);
  t.match(check.stdout, /configuration is usable/);
  const broken = join(dir, 'broken.conf');
  writeFileSync(broken, 'server {\n  listen 443 ssl\n}\n');
  const bad = spawnSync(process.execPath, [CLI, 'import', 'nginx', broken], { encoding: 'utf8', timeout: 20_000 });
  t.equal(bad.status, 2);
  t.match(bad.stderr, new RegExp(`${broken.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:3:1 unexpected "}"`));
});
