import t, { type Test } from 'tap';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readNginx, type Directive } from '../src/import/nginx/parse.js';
import { ImportReport } from '../src/import/nginx/report.js';
import { childScope, type Scope } from '../src/import/nginx/scope.js';
import { translateContent, translateHttpLevel } from '../src/import/nginx/content.js';
import { accessLists } from '../src/import/nginx/content-access.js';
import { parseNet, within } from '../src/import/nginx/cidr.js';
import { validate } from '../src/config/schema.js';

/** A temp folder with nginx.conf and the files it names; `@DIR@` in any text is the folder. */
function tree(t: Test, conf: string, files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-content-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries({ 'nginx.conf': conf, ...files })) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text.replaceAll('@DIR@', dir));
  }
  return dir;
}

interface Imported {
  main: Scope;
  http: Scope;
  /** The location whose arguments are `args` (joined by a space), in the first server. */
  at: (args: string) => { route: Record<string, unknown>; consumed: Set<Directive>; lines: string[] };
  top: () => { top: Record<string, unknown>; lines: string[] };
}

function load(dir: string): Imported {
  const main: Scope = { kind: 'main', directives: readNginx(join(dir, 'nginx.conf')) };
  const httpD = main.directives.find((d) => d.name === 'http');
  if (httpD === undefined) throw new Error('no http block');
  const http = childScope(main, httpD);
  const serverD = http.directives.find((d) => d.name === 'server');
  if (serverD === undefined) throw new Error('no server block');
  const server = childScope(http, serverD);
  const find = (scope: Scope, args: string): Scope | undefined => {
    for (const d of scope.directives.filter((x) => x.name === 'location')) {
      const s = childScope(scope, d);
      if (d.args.join(' ') === args) return s;
      const inner = find(s, args);
      if (inner !== undefined) return inner;
    }
    return undefined;
  };
  const strip = (lines: string[]): string[] => lines.map((l) => l.replace(`${dir}/`, ''));
  return {
    main,
    http,
    at: (args) => {
      const scope = args === 'server' ? server : find(server, args);
      if (scope === undefined) throw new Error(`no location ${args}`);
      const report = new ImportReport();
      const out = translateContent(scope, report);
      return { ...out, lines: strip(report.lines()) };
    },
    top: () => {
      const report = new ImportReport();
      return { top: translateHttpLevel(http, report).top, lines: strip(report.lines()) };
    },
  };
}

/** Gatehouse's own loader must take what the import wrote (cache keys are checked on their branch). */
function loads(t: Test, dir: string, routes: Record<string, unknown>[], top: Record<string, unknown> = {}): void {
  const without = (o: Record<string, unknown>, ...keys: string[]): Record<string, unknown> => Object.fromEntries(Object.entries(o).filter(([k]) => !keys.includes(k)));
  const rest = without(top, 'cache');
  // The core translator resolves proxy_pass URLs into upstream names; these tests name them as it would.
  const named = JSON.parse(JSON.stringify(routes).replaceAll('"http://app"', '"app"').replaceAll('"http://authelia:9091"', '"authelia"')) as Record<string, unknown>[];
  const site: Record<string, unknown> = { hosts: ['example.com'], routes: named.map((r, i) => ({ path: `/r${i}/`, ...without(r, 'errorPages', 'cache') })) };
  const pages = routes.find((r) => r.errorPages !== undefined)?.errorPages;
  if (pages !== undefined) site.errorPages = pages;
  const raw = { tls: { certificates: [{ cert: 'fullchain.pem', key: 'privkey.pem' }] }, listen: { http: false }, upstreams: { app: { targets: ['127.0.0.1:3000'] }, authelia: { targets: ['127.0.0.1:9091'] } }, sites: [site], ...rest };
  const errors = validate(raw, join(dir, 'gatehouse.yaml')).issues.filter((i) => i.severity === 'error');
  t.same(errors.map((e) => `${e.path.join('.')}: ${e.message}`), [], 'Gatehouse loads the translation');
}

t.test('alias with and without the trailing slash; root with index and gzip_static', async (t) => {
  const dir = tree(t, `http { server {
    root @DIR@/public; index index.htm index.html;
    location /static/ { alias @DIR@/assets/; gzip_static on; }
    location /img/ { alias @DIR@/images; }
    location /dl { alias @DIR@/downloads; }
    location = /favicon.ico { alias @DIR@/assets/icon.ico; }
    location / { }
  } }`, { 'public/index.htm': 'i', 'assets/app.css': 'c' });
  const c = load(dir);
  const stat = c.at('/static/');
  t.same(stat.route, { files: { root: `${dir}/assets/`, stripPrefix: true, index: ['index.htm', 'index.html'], precompressed: ['gzip'] } });
  t.same(stat.lines, [], 'alias ending in "/" under a location ending in "/" is exact');
  t.match(c.at('/img/').lines, [/nginx\.conf:4 {2}alias .*images {2}translated-with-difference {2}nginx glues the rest of the path/]);
  t.match(c.at('/dl').lines, [/alias .*downloads {2}translated-with-difference {2}nginx maps \/dlx to the sibling/]);
  t.same(c.at('= /favicon.ico').route.files, { root: `${dir}/assets`, tryFiles: ['/icon.ico'], index: ['index.htm', 'index.html'] });
  const root = c.at('/');
  t.same(root.route, { files: { root: `${dir}/public`, index: ['index.htm', 'index.html'] } });
  t.ok([...root.consumed].some((d) => d.name === 'root'), 'the inherited root is consumed');
  loads(t, dir, [stat.route, root.route]);
});

t.test('try_files: the SPA idiom, a routed last URI, @app fallback, =404, and what cannot be said', async (t) => {
  const dir = tree(t, `http {
    upstream app { server 127.0.0.1:3000; }
    server {
      root @DIR@/dist;
      location / { try_files $uri $uri/ /index.html; }
      location /docs/ { try_files $uri $uri.html $uri/index.html =404; }
      location /app/ { try_files $uri @app; }
      location /blog/ { try_files $uri /blog/index.php?$args; }
      location /v1/ { try_files $uri /v1/index.html; }
      location = /v1/index.html { add_header Cache-Control no-cache; }
      location /admin/ { alias @DIR@/admin/; try_files $uri $uri/ /admin/index.html; }
      location /embed/ { alias @DIR@/embed/; try_files $uri /index.html; }
      location @app { proxy_pass http://app; proxy_set_header Host $host; proxy_set_header X-Real-IP $remote_addr; proxy_read_timeout 300s; }
    }
  }`, { 'dist/index.html': 'spa' });
  const c = load(dir);
  const spa = c.at('/');
  t.same(spa.route.files, { root: `${dir}/dist`, tryFiles: ['{path}', '{path}/', '/index.html'] });
  t.same(spa.lines, []);
  t.same(c.at('/docs/').route.files, { root: `${dir}/dist`, tryFiles: ['{path}', '{path}.html', '{path}/index.html'] });
  const app = c.at('/app/');
  t.same(app.route.files, { root: `${dir}/dist`, tryFiles: ['{path}'], fallback: 'http://app' });
  const names = [...app.consumed].map((d) => `${d.name} ${d.args.join(' ')}`);
  t.ok(names.includes('location @app') && names.includes('proxy_pass http://app'), 'the named location is consumed, so no route is made of it');
  t.match(app.lines, [/nginx\.conf:13 {2}proxy_read_timeout 300s {2}translated-with-difference {2}in `location @app`/], 'what the fallback location adds is named');
  const blog = c.at('/blog/');
  t.equal(blog.route.files, undefined);
  t.match(blog.lines, [/try_files .* {2}unsupported {2}"\$uri": |the last argument "\/blog\/index\.php\?\$args" is a URI nginx routes again/]);
  t.match(c.at('/v1/').lines, [/try_files .* {2}translated-with-difference {2}nginx routes "\/v1\/index\.html" again, to `location = \/v1\/index\.html`/]);
  const admin = c.at('/admin/');
  t.same(admin.route.files, { root: `${dir}/admin/`, stripPrefix: true, tryFiles: ['{path}', '{path}/', '/index.html'] }, 'under alias the literal loses the prefix, as nginx strips it');
  t.same(admin.lines, [], 'the last URI comes back to this same location: exact');
  t.match(c.at('/embed/').lines, [new RegExp(`try_files .* {2}translated-with-difference {2}nginx routes "/index.html" again, to \`location /\` \\(its settings apply, its file is ${dir}/dist/index.html\\); Gatehouse serves ${dir}/embed/index.html`)]);
  loads(t, dir, [spa.route, app.route, admin.route]);
});

t.test('error_page: files of the location that serves them, one set per site, and what routes again', async (t) => {
  const dir = tree(t, `http { server {
    root @DIR@/www;
    error_page 404 /404.html;
    error_page 500 502 503 504 /50x.html;
    location = /50x.html { root /usr/share/nginx/html; internal; }
    location /api/ { proxy_pass http://127.0.0.1:3000; proxy_intercept_errors on; }
    location /php/ { error_page 404 = /index.php; }
    location / { }
  } }`);
  const c = load(dir);
  const pages = { '404': `${dir}/www/404.html`, '500 502 503 504': '/usr/share/nginx/html/50x.html', upstream: true };
  const root = c.at('/');
  t.same(root.route.errorPages, pages);
  t.same(root.lines, []);
  const api = c.at('/api/');
  t.same(api.route.errorPages, pages, 'the same set on every route, for the site');
  t.equal(api.route.files, undefined, 'a proxying location serves no files');
  t.ok([...api.consumed].some((d) => d.name === 'root'), 'the root it inherits changes nothing there, and is carried over as that');
  const php = c.at('/php/');
  t.same(php.route.errorPages, pages);
  t.match(php.lines, [/nginx\.conf:7 {2}error_page 404 = \/index\.php {2}unsupported {2}"=" answers with another status/, /error_page .* {2}translated-with-difference {2}Gatehouse's error pages are one set per site/]);
  loads(t, dir, [root.route]);
});

t.test('allow/deny: first match in nginx, deny-wins in Gatehouse, the same addresses admitted', async (t) => {
  const dir = tree(t, `http { server {
    allow 127.0.0.1; deny all;
    location /a/ { allow 10.0.0.0/8; allow 192.168.1.0/24; deny all; proxy_pass http://app; }
    location /b/ { deny 10.9.0.0/16; allow 10.0.0.0/8; deny all; proxy_pass http://app; }
    location /c/ { allow 10.1.0.0/16; deny 10.0.0.0/8; proxy_pass http://app; }
    location /d/ { deny 192.0.2.1; deny 2001:db8::/32; proxy_pass http://app; }
    location /e/ { proxy_pass http://app; }
    location /f/ { allow all; proxy_pass http://app; }
  } }`);
  const c = load(dir);
  t.same(c.at('/a/').route.access, { allow: ['10.0.0.0/8', '192.168.1.0/24'] });
  t.same(c.at('/b/').route.access, { allow: ['10.0.0.0/8'], deny: ['10.9.0.0/16'] });
  t.same(c.at('/c/').route.access, { deny: ['10.128.0.0/9', '10.64.0.0/10', '10.32.0.0/11', '10.16.0.0/12', '10.8.0.0/13', '10.4.0.0/14', '10.2.0.0/15', '10.0.0.0/16'] },
    'a deny after an allow is written without what the allow already admitted');
  t.same(c.at('/d/').route.access, { deny: ['192.0.2.1', '2001:db8::/32'] });
  t.same(c.at('/e/').route.access, { allow: ['127.0.0.1'] }, 'the server\'s list is inherited whole');
  t.equal(c.at('/f/').route.access, undefined, 'a location with its own list replaces the server\'s');
  for (const l of ['/a/', '/b/', '/c/', '/d/', '/e/']) t.same(c.at(l).lines, [], `${l} is exact`);
  loads(t, dir, ['/a/', '/b/', '/c/', '/d/'].map((l) => ({ ...c.at(l).route, upstream: 'app' })));
});

t.test('allow/deny: on random lists, every address gets what nginx would give it', async (t) => {
  // nginx: the first rule that matches decides; none matching admits. Gatehouse: deny wins, a non-empty allow admits only its own.
  const blocks = ['10.0.0.0/8', '10.1.0.0/16', '10.1.2.0/24', '10.1.2.3', '10.128.0.0/9', '192.168.0.0/16', '0.0.0.0/1', 'all', '2001:db8::/32', '2001:db8:1::/48', '2001:db8:1::7', '::/1'];
  const probes = ['10.0.0.1', '10.1.0.1', '10.1.2.1', '10.1.2.3', '10.200.0.1', '10.64.0.1', '192.168.5.5', '8.8.8.8', '200.0.0.1',
    '2001:db8::5', '2001:db8:1::7', '2001:db8:1:ffff::1', '2001:db9::1', 'fe80::1'].map((a) => parseNet(a)!);
  let seed = 7;
  const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) % n;
  let checked = 0;
  for (let round = 0; round < 400; round++) {
    const rules: Directive[] = Array.from({ length: 1 + rand(5) }, (_, i) => ({ name: rand(2) === 0 ? 'allow' : 'deny', args: [blocks[rand(blocks.length)]!], file: 'x', line: i + 1, col: 1 }));
    const lists = accessLists({ scope: { kind: 'location', directives: rules }, report: new ImportReport(), consumed: new Set() }, rules)!;
    const allow = lists.allow.map((a) => parseNet(a)!);
    const deny = lists.deny.map((a) => parseNet(a)!);
    for (const p of probes) {
      const first = rules.find((r) => r.args[0] === 'all' || within(p, parseNet(r.args[0]!)!));
      const nginx = first === undefined || first.name === 'allow';
      const gatehouse = !deny.some((d) => within(p, d)) && (allow.length === 0 || allow.some((a) => within(p, a)));
      if (nginx !== gatehouse) t.fail(`${rules.map((r) => `${r.name} ${r.args[0]!}`).join('; ')} → ${JSON.stringify(lists)}: ${p.base} nginx ${nginx}, Gatehouse ${gatehouse}`);
      checked++;
    }
  }
  t.equal(checked, 400 * probes.length);
});

t.test('auth_basic: realm and users inherited, off in a nested location, hashes Gatehouse cannot check named', async (t) => {
  const dir = tree(t, `http { server {
    auth_basic "Admin area"; auth_basic_user_file @DIR@/htpasswd;
    location / { proxy_pass http://app;
      location /health { auth_basic off; proxy_pass http://app; }
    }
    location /old/ { auth_basic_user_file @DIR@/old.htpasswd; proxy_pass http://app; }
  } }`, {
    htpasswd: 'alice:$2y$10$abcdefghijklmnopqrstuuJ1m2N3o4P5q6R7s8T9u0V1w2X3y4Z5a\nbob:$apr1$xyz$abcdefghijklmnopqrstu1\n',
    'old.htpasswd': 'carol:$6$salt$hash\ndave:{SHA}abcdefghijklmnopqrstuvwxyz0=\nerin:abCdEfGhIjKlM\n',
  });
  const c = load(dir);
  const root = c.at('/');
  t.same(root.route.auth, { basic: { realm: 'Admin area', users: `${dir}/htpasswd` } });
  t.same(root.lines, []);
  const health = c.at('/health');
  t.equal(health.route.auth, undefined, 'auth_basic off in the nested location');
  t.ok([...health.consumed].some((d) => d.name === 'auth_basic' && d.args[0] === 'off'));
  const old = c.at('/old/');
  t.same(old.route.auth, { basic: { realm: 'Admin area', users: `${dir}/old.htpasswd` } });
  t.match(old.lines, [/auth_basic_user_file .* {2}unsupported {2}.*these users cannot log in: carol \(SHA-512-crypt\), erin \(DES crypt\)/]);
  loads(t, dir, [{ ...root.route, upstream: 'app' }]);
});

t.test('auth_request: the internal location becomes auth.forward, auth_request_set + proxy_set_header become copyHeaders', async (t) => {
  const dir = tree(t, `http { server {
    location /app/ {
      auth_request /authelia;
      auth_request_set $user $upstream_http_remote_user;
      auth_request_set $groups $upstream_http_remote_groups;
      auth_request_set $cookie $upstream_http_set_cookie;
      proxy_set_header Remote-User $user;
      proxy_set_header Remote-Groups $groups;
      add_header Set-Cookie $cookie;
      error_page 401 =302 https://auth.example.com/?rd=$scheme://$http_host$request_uri;
      proxy_pass http://app;
    }
    location /authelia {
      internal;
      proxy_pass http://authelia:9091/api/verify;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URL $scheme://$http_host$request_uri;
      proxy_set_header X-Forwarded-Method $request_method;
    }
  } }`);
  const c = load(dir);
  const app = c.at('/app/');
  t.same(app.route.auth, { forward: {
    upstream: 'http://authelia:9091', path: '/api/verify', copyHeaders: ['Remote-User', 'Remote-Groups'],
    signIn: 'https://auth.example.com/?rd={scheme}://{header.host}{uri}',
  } });
  const consumed = [...app.consumed].map((d) => `${d.name} ${d.args.join(' ')}`);
  t.ok(consumed.includes('location /authelia') && consumed.includes('proxy_set_header Remote-User $user'));
  t.ok(consumed.some((x) => x.startsWith('error_page 401 =302')), 'the login redirect is translated');
  t.match(app.lines, [
    /:3 {2}auth_request \/authelia {2}translated-with-difference {2}an auth answer other than 2xx or 401 goes to the client as it is/,
    /:6 {2}auth_request_set \$cookie \$upstream_http_set_cookie {2}unsupported/,
    /:18 {2}proxy_set_header X-Original-URL .* {2}translated-with-difference {2}Gatehouse sends the auth service/,
  ]);
  t.equal(app.lines.length, 3);
  loads(t, dir, [{ ...app.route, upstream: 'app' }]);
});

t.test('auth_request + error_page 401 → auth.forward.signIn: set variables written out; what it cannot say is reported', async (t) => {
  const dir = tree(t, `http { server {
    set $target_url $scheme://$http_host$request_uri;
    error_page 401 https://auth.example.com/?rd=$target_url;
    location /a/ { auth_request /auth; proxy_pass http://app; }
    location /b/ { auth_request /auth; error_page 401 =302 https://login.example.com/?to=$cookie_x; proxy_pass http://app; }
    location /c/ { auth_request /auth; error_page 401 =302 /oauth2/sign_in; proxy_pass http://app; }
    location /d/ { proxy_pass http://app; }
    location /auth { internal; proxy_pass http://authelia:9091/oauth2/auth; }
  } }`);
  const c = load(dir);
  const a = c.at('/a/');
  t.same(a.route.auth, { forward: { upstream: 'http://authelia:9091', path: '/oauth2/auth', signIn: 'https://auth.example.com/?rd={scheme}://{header.host}{uri}' } }, 'a bare absolute URL is nginx\'s 302 too');
  t.notOk(a.lines.some((l) => /error_page/.test(l)), a.lines.join('\n'));
  const b = c.at('/b/');
  t.equal((b.route.auth as { forward: Record<string, unknown> }).forward.signIn, undefined);
  t.match(b.lines.join('\n'), /error_page 401 =302 https:\/\/login\.example\.com\/\?to=\$cookie_x {2}unsupported {2}\$cookie_x is not known when Gatehouse's auth decides/);
  const cc = c.at('/c/');
  t.equal((cc.route.auth as { forward: Record<string, unknown> }).forward.signIn, undefined, 'a local path is an internal redirect in nginx');
  t.match(cc.lines.join('\n'), /error_page 401 =302 \/oauth2\/sign_in {2}unsupported {2}.*answers with another status/);
  t.equal(c.at('/d/').route.auth, undefined);
  loads(t, dir, [{ ...a.route, upstream: 'app' }]);
});

t.test('limit_req: the zone\'s budget with its burst, per-address keys only, nginx\'s queueing and 503 named', async (t) => {
  const dir = tree(t, `http {
    limit_req_zone $binary_remote_addr zone=login:10m rate=5r/m;
    limit_req_zone $binary_remote_addr zone=api:10m rate=100r/s;
    limit_req_zone $server_name zone=global:1m rate=1000r/s;
    server {
      location /login { limit_req zone=login burst=5 nodelay; limit_req_status 429; proxy_pass http://app; }
      location /api/ { limit_req zone=api burst=20; proxy_pass http://app; }
      location /api/bulk/ { limit_req zone=api burst=200 nodelay; proxy_pass http://app; }
      location /all/ { limit_req zone=global; proxy_pass http://app; }
    }
  }`);
  const c = load(dir);
  const login = c.at('/login');
  t.equal(login.route.rateLimit, 'login');
  t.same(login.lines, [], 'burst with nodelay and limit_req_status 429 is exact');
  const api = c.at('/api/');
  t.equal(api.route.rateLimit, 'api');
  t.match(api.lines, [/limit_req zone=api burst=20 {2}translated-with-difference {2}refused requests get 429 with Retry-After; nginx answers 503/, /limit_req zone=api burst=20 {2}translated-with-difference {2}nginx delays requests beyond the rate/]);
  t.equal(c.at('/api/bulk/').route.rateLimit, 'api-burst200', 'another burst on the same zone is its own budget');
  const all = c.at('/all/');
  t.equal(all.route.rateLimit, undefined);
  t.match(all.lines, [/limit_req zone=global {2}unsupported/]);
  const { top, lines } = c.top();
  t.same(top.rateLimits, {
    login: { rate: '5/m', burst: 5, ipv6Prefix: 128 },
    api: { rate: '100/s', burst: 20, ipv6Prefix: 128 },
    'api-burst200': { rate: '100/s', burst: 200, ipv6Prefix: 128 },
  });
  t.match(lines, [/:4 {2}limit_req_zone \$server_name .* {2}unsupported {2}the key \$server_name/]);
  loads(t, dir, [login.route, api.route, c.at('/api/bulk/').route].map((r) => ({ ...r, upstream: 'app' })), top);
});

t.test('proxy_cache: valid, use_stale, lock and key on the route; proxy_cache_path as the store', async (t) => {
  const dir = tree(t, `http {
    proxy_cache_path /var/cache/nginx levels=1:2 keys_zone=micro:10m max_size=1g inactive=60m use_temp_path=off;
    proxy_cache_valid 200 302 10m;
    server {
      location / {
        proxy_pass http://app;
        proxy_cache micro;
        proxy_cache_valid 404 1m;
        proxy_cache_valid any 30s;
        proxy_cache_use_stale error timeout updating http_500 http_502 invalid_header;
        proxy_cache_lock on;
        proxy_cache_key $scheme$request_method$host$uri$is_args$args;
        proxy_cache_bypass $http_upgrade;
        add_header X-Cache-Status $upstream_cache_status;
      }
      location /static/ { proxy_pass http://app; proxy_cache micro; proxy_cache_bypass $arg_nocache; proxy_no_cache $cookie_session; }
      location /live/ { proxy_pass http://app; proxy_cache off; }
    }
  }`);
  const c = load(dir);
  const root = c.at('/');
  t.same(root.route.cache, {
    valid: { '404': '1m', any: '30s' },
    useStale: ['error', 'timeout', 'updating', 'http_500', 'http_502'],
    lock: true,
    key: '{scheme}{host}{path}?{query}',
  }, 'proxy_cache_valid at the location replaces the http level\'s (an array, as nginx merges it)');
  t.match(root.lines, [/use_stale .* {2}translated-with-difference {2}Gatehouse has no stale answer for invalid_header/, /add_header X-Cache-Status \$upstream_cache_status {2}translated-with-difference {2}.*Cache-Status \(RFC 9211\)/]);
  const stat = c.at('/static/');
  t.same(stat.route.cache, { valid: { '200': '10m', '302': '10m' } });
  t.match(stat.lines, [/proxy_cache_bypass \$arg_nocache {2}unsupported/, /proxy_no_cache \$cookie_session {2}translated-with-difference/]);
  t.equal(c.at('/live/').route.cache, undefined);
  const { top, lines } = c.top();
  t.same(top.cache, { memory: '10m', path: '/var/cache/nginx', maxSize: '1g' });
  t.match(lines, [/proxy_cache_path .* {2}translated-with-difference {2}nginx drops entries unused for 60m/]);
});

t.test('gzip: on with types, min length and level as nginx has them; off in a location; brotli', async (t) => {
  const dir = tree(t, `http {
    gzip on; gzip_vary on; gzip_proxied any; gzip_comp_level 5; gzip_min_length 256;
    gzip_types text/css application/javascript application/json image/svg+xml;
    gzip_disable "msie6"; gzip_buffers 16 8k;
    server {
      location / { proxy_pass http://app; }
      location /raw/ { gzip off; proxy_pass http://app; }
      location /br/ { brotli on; proxy_pass http://app; }
      location /bare/ { gzip_types *; proxy_pass http://app; }
    }
  }`);
  const c = load(dir);
  const root = c.at('/');
  t.same(root.route.compress, { algorithms: ['gzip'], types: ['text/html', 'text/css', 'application/javascript', 'application/json', 'image/svg+xml'], minLength: 256 });
  t.match(root.lines, [
    /:2 {2}gzip on {2}translated-with-difference {2}answers to cross-site requests that carry cookies stay uncompressed/,
    /:2 {2}gzip_comp_level 5 {2}translated-with-difference/,
    /:4 {2}gzip_buffers 16 8k {2}meaningless/,
  ]);
  t.equal(root.lines.length, 3);
  t.equal(c.at('/raw/').route.compress, undefined);
  t.same((c.at('/br/').route.compress as { algorithms: string[] }).algorithms, ['br', 'gzip']);
  const bare = c.at('/bare/');
  t.equal((bare.route.compress as { types?: string[] }).types, undefined);
  t.match(bare.lines.at(-1), /gzip_types \* {2}translated-with-difference {2}nginx compresses every type here/);
  loads(t, dir, ['/', '/br/', '/bare/'].map((l) => ({ ...c.at(l).route, upstream: 'app' })));
});

t.test('fixtures content-*.conf: every location translates, and only the lines the fixture expects are unsupported', async (t) => {
  const dir = join(import.meta.dirname, 'fixtures', 'nginx');
  const files = readdirSync(dir).filter((f) => f.startsWith('content-') && f.endsWith('.conf'));
  t.ok(files.length >= 5, 'the corpus is there');
  for (const file of files) {
    const path = join(dir, file);
    const main: Scope = { kind: 'main', directives: readNginx(path) };
    const httpD = main.directives.find((d) => d.name === 'http');
    const http = httpD === undefined ? main : childScope(main, httpD);
    const report = new ImportReport();
    const { top } = translateHttpLevel(http, report);
    const routes: Record<string, unknown>[] = [];
    const walk = (s: Scope): void => {
      for (const d of s.directives.filter((x) => x.name === 'server' || x.name === 'location')) {
        const inner = childScope(s, d);
        if (d.name === 'location' && !(d.args[0] ?? '').startsWith('@')) routes.push(translateContent(inner, report).route);
        walk(inner);
      }
    };
    walk(http);
    t.ok(routes.length > 0, `${file}: locations translated`);
    const expected = [...readFileSync(path, 'utf8').matchAll(/^# expect unsupported: (.+)$/gm)].map((m) => m[1]);
    const unsupported = report.lines().filter((l) => l.includes('  unsupported  '));
    t.same(unsupported.map((l) => expected.find((e) => e !== undefined && l.includes(`  ${e}`)) ?? l), expected, `${file}: unsupported lines`);
    t.ok(Object.keys(top).length > 0 || routes.some((r) => Object.keys(r).length > 0), `${file}: something carried over`);
  }
});

t.test('a server without locations is read as its own `location /` (nginx serves it from the server level)', async (t) => {
  const dir = tree(t, `http { gzip on; server { root @DIR@/site; try_files $uri $uri.html /index.html; allow 192.0.2.0/24; deny all; } }`);
  const s = load(dir).at('server');
  t.same(s.route.files, { root: `${dir}/site`, tryFiles: ['{path}', '{path}.html', '/index.html'] });
  t.same(s.route.access, { allow: ['192.0.2.0/24'] });
  t.same((s.route.compress as { algorithms: string[] }).algorithms, ['gzip']);
});

t.test('access_log off in force (the location\'s, else the server\'s) → accessLog: false; a log file of its own logs again', async (t) => {
  const dir = tree(t, `http { server {
    access_log off;
    location /quiet/ { proxy_pass http://app; }
    location /loud/ { access_log /var/log/nginx/loud.log combined; proxy_pass http://app; }
    location = /robots.txt { access_log off; root @DIR@; }
  } }`);
  const c = load(dir);
  t.equal(c.at('/quiet/').route.accessLog, false, 'inherited from the server');
  t.equal(c.at('/loud/').route.accessLog, undefined, 'a location with its own access_log logs');
  t.equal(c.at('= /robots.txt').route.accessLog, false);
  t.ok([...c.at('= /robots.txt').consumed].some((d) => d.name === 'access_log' && d.args[0] === 'off'), 'the line is carried over, not reported');
  loads(t, dir, [{ ...c.at('/quiet/').route, upstream: 'app' }]);
});
