import t, { type Test } from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ImportError, printNginx, readNginx, type Directive } from '../src/import/nginx/parse.js';
import { ImportReport } from '../src/import/nginx/report.js';
import { childScope, nearest, nearestOne, type Scope } from '../src/import/nginx/scope.js';
import { skipWithoutCommands } from './helpers/tools.js';

function tree(t: Test, files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'gh-nginx-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(join(dir, name, '..'), { recursive: true });
    writeFileSync(join(dir, name), text);
  }
  return dir;
}

/** name + args only, so a failing test shows the shape at a glance. */
function shape(ds: readonly Directive[]): unknown[] {
  return ds.map((d) => (d.block === undefined ? [d.name, ...d.args] : [d.name, ...d.args, shape(d.block)]));
}

function parseError(fn: () => unknown): ImportError {
  try { fn(); } catch (err) { if (err instanceof ImportError) return err; throw err; }
  throw new Error('expected an ImportError');
}

t.test('tokens: quotes, escapes, comments, variables and regexes read as nginx reads them', async (t) => {
  const dir = tree(t, {
    'nginx.conf': [
      'http { # comment after a brace',
      '  log_format main \'$remote_addr "$request"\' "tab\\there";',
      '  server {',
      '    server_name ~^(?<sub>\\w+)\\.example\\.com$ a#b;  # a#b is one word: # only starts a comment at a token start',
      '    location ~ "^/img/\\d{2}/" { return 200 "ok\\"quoted\\""; }',
      '    set $x ${host}x;',
      '    if ($host = "www.example.com") { return 301 https://example.com$request_uri; }',
      '    add_header X-Ok ok};',
      '  }',
      '}',
    ].join('\n'),
  });
  const ds = readNginx(join(dir, 'nginx.conf'));
  t.strictSame(shape(ds), [['http', [
    ['log_format', 'main', '$remote_addr "$request"', 'tab\there'],
    ['server', [
      ['server_name', '~^(?<sub>\\w+)\\.example\\.com$', 'a#b'],
      ['location', '~', '^/img/\\d{2}/', [['return', '200', 'ok"quoted"']]],
      ['set', '$x', '${host}x'],
      ['if', '($host', '=', 'www.example.com', ')', [['return', '301', 'https://example.com$request_uri']]],
      ['add_header', 'X-Ok', 'ok}'],
    ]],
  ]]]);
  const server = ds[0]!.block![1]!;
  t.match(server, { line: 3, col: 3 }, 'each directive keeps its line and column');
  t.match(server.block![1], { name: 'location', line: 5, col: 5 });
});

t.test('include: globs sorted like glob(3), relative to the including file, or to --prefix', async (t) => {
  const dir = tree(t, {
    'etc/nginx.conf': 'http {\n  include conf.d/*.conf;\n  include snippets/b.conf;\n}\n',
    'etc/conf.d/b.conf': 'server { server_name b; }\n',
    'etc/conf.d/a.conf': 'server { server_name a; }\n',
    'etc/conf.d/.hidden.conf': 'server { server_name hidden; }\n',
    'etc/conf.d/Z.conf': 'server { server_name Z; }\n',
    'etc/snippets/b.conf': 'add_header X-B b;\n',
    'other/snippets/b.conf': 'add_header X-Other other;\n',
  });
  const ds = readNginx(join(dir, 'etc/nginx.conf'));
  t.strictSame(shape(ds), [['http', [
    ['server', [['server_name', 'Z']]],
    ['server', [['server_name', 'a']]],
    ['server', [['server_name', 'b']]],
    ['add_header', 'X-B', 'b'],
  ]]], 'byte order (Z before a), dot files skipped, include replaced in place');
  t.equal(ds[0]!.block![1]!.file, join(dir, 'etc/conf.d/a.conf'), 'an included directive names its own file');
  t.equal(ds[0]!.block![1]!.line, 1);
  const withPrefix = readNginx(join(dir, 'etc/nginx.conf'), { prefix: join(dir, 'other') });
  t.strictSame(shape(withPrefix), [['http', [['add_header', 'X-Other', 'other']]]], 'with --prefix, relative includes resolve there (the glob matches nothing: no error)');
});

t.test('a sites-enabled fragment reads without http {}, its snippets found relative to /etc/nginx', async (t) => {
  const dir = tree(t, {
    'sites-enabled/app': 'server {\n  listen 443 ssl;\n  include snippets/ssl-params.conf;\n}\n',
    'snippets/ssl-params.conf': 'ssl_protocols TLSv1.2 TLSv1.3;\n',
  });
  t.strictSame(shape(readNginx(join(dir, 'sites-enabled/app'))), [['server', [['listen', '443', 'ssl'], ['ssl_protocols', 'TLSv1.2', 'TLSv1.3']]]]);
});

t.test('include of a missing mime.types stays as written; any other missing file is an error at the include', async (t) => {
  const dir = tree(t, { 'nginx.conf': 'http {\n  include /nonexistent/mime.types;\n  include missing.conf;\n}\n' });
  const err = parseError(() => readNginx(join(dir, 'nginx.conf')));
  t.match(err, { code: 'IMPORT_PARSE', line: 3, col: 3 });
  t.match(err.where(), /nginx\.conf:3:3 open\(\) "missing\.conf" failed/);
  const ok = tree(t, { 'nginx.conf': 'http { include /nonexistent/mime.types; }' });
  t.strictSame(shape(readNginx(join(ok, 'nginx.conf'))), [['http', [['include', '/nonexistent/mime.types']]]]);
});

t.test('an include loop is an error, not a stack overflow', async (t) => {
  const dir = tree(t, { 'a.conf': 'include b.conf;\n', 'b.conf': '\n\ninclude a.conf;\n' });
  t.match(parseError(() => readNginx(join(dir, 'a.conf'))), { line: 3, col: 1, message: /loops back/ });
});

t.test('syntax errors name FILE:LINE:COL with nginx\'s words', async (t) => {
  const cases: Array<[string, number, number, RegExp]> = [
    ['server {\n  listen 80\n}\n', 3, 1, /unexpected "}"/],
    ['server {\n  listen 80;\n', 1, 8, /unexpected end of file, expecting "}"/],
    ['}\n', 1, 1, /unexpected "}"/],
    ['server { ; }', 1, 10, /unexpected ";"/],
    ['add_header X "unterminated;\n', 1, 14, /unexpected end of file, expecting "/],
    ['add_header X "a"b;\n', 1, 17, /unexpected "b"/],
    ['listen 80', 1, 8, /unexpected end of file, expecting ";" or "}"/],
  ];
  for (const [text, line, col, message] of cases) {
    const dir = tree(t, { 'x.conf': text });
    const err = parseError(() => readNginx(join(dir, 'x.conf')));
    t.match(err, { file: join(dir, 'x.conf'), line, col, message }, JSON.stringify(text));
  }
});

t.test('printNginx writes text that reads back to the same directives', async (t) => {
  const ds: Directive[] = [{ name: 'http', args: [], file: 'f', line: 1, col: 1, block: [
    { name: 'add_header', args: ['Content-Security-Policy', "default-src 'self'; img-src *"], file: 'f', line: 2, col: 1 },
    { name: 'location', args: ['~*', '^/a{2}\\.(png|jpg)$'], file: 'f', line: 3, col: 1, block: [
      { name: 'return', args: ['200', 'say "hi"\\n\ttab'], file: 'f', line: 4, col: 1 },
      { name: 'set', args: ['$empty', ''], file: 'f', line: 5, col: 1 },
      { name: 'add_header', args: ['X-Hash', '#not-a-comment'], file: 'f', line: 6, col: 1 },
    ] },
  ] }];
  const text = printNginx(ds);
  const dir = tree(t, { 'round.conf': text });
  t.strictSame(shape(readNginx(join(dir, 'round.conf'))), shape(ds), text);
});

t.test('nginx itself accepts what printNginx writes', { skip: skipWithoutCommands(['nginx']) }, async (t) => {
  const dir = tree(t, {
    'src.conf': [
      'error_log stderr;', 'pid PID;', 'events { worker_connections 64; }',
      'http {', '  access_log off;',
      '  map $http_upgrade $connection_upgrade { default upgrade; \'\' close; }',
      '  server {', '    listen 127.0.0.1:1 ;', '    server_name ~^(?<sub>\\w+)\\.example\\.com$ "x y";',
      '    add_header Content-Security-Policy "default-src \'self\'; img-src *" always;',
      '    location ~ "^/img/\\d{2}/" { return 200 "ok\\"quoted\\"\\n"; }',
      '    if ($host = "www.example.com") { return 301 https://example.com$request_uri; }',
      '  }', '}',
    ].join('\n'),
  });
  const printed = printNginx(readNginx(join(dir, 'src.conf'))).replace('PID', join(dir, 'nginx.pid'));
  writeFileSync(join(dir, 'printed.conf'), printed);
  const r = spawnSync('nginx', ['-t', '-q', '-p', dir, '-c', join(dir, 'printed.conf'), '-e', 'stderr'], { encoding: 'utf8', timeout: 10_000 });
  t.equal(r.status, 0, `${printed}\n${r.stderr}`);
});

t.test('nearest: a level with any add_header replaces all of its parent\'s (nginx\'s array inheritance)', async (t) => {
  const d = (name: string, ...args: string[]): Directive => ({ name, args, file: 'f', line: 1, col: 1 });
  const http: Scope = { kind: 'http', directives: [d('add_header', 'X-A', 'a'), d('add_header', 'X-B', 'b'), d('proxy_read_timeout', '30s')] };
  const inherits = childScope(http, { ...d('server'), block: [d('server_name', 'x')] });
  const replaces = childScope(inherits, { ...d('location', '/'), block: [d('add_header', 'X-C', 'c'), d('proxy_read_timeout', '5s'), d('proxy_read_timeout', '7s')] });
  const deeper = childScope(replaces, { ...d('location', '/x'), block: [] });
  t.strictSame(nearest(inherits, 'add_header').map((x) => x.args[0]), ['X-A', 'X-B']);
  t.strictSame(nearest(replaces, 'add_header').map((x) => x.args[0]), ['X-C'], 'X-A and X-B are gone here, as in nginx');
  t.strictSame(nearest(deeper, 'add_header').map((x) => x.args[0]), ['X-C']);
  t.strictSame(nearest(deeper, 'proxy_set_header'), []);
  t.equal(nearestOne(inherits, 'proxy_read_timeout')?.args[0], '30s');
  t.equal(nearestOne(deeper, 'proxy_read_timeout')?.args[0], '7s');
  t.equal(deeper.kind, 'location');
});

t.test('report: one line per directive, meaningless names once, exit code from unsupported only', async (t) => {
  const d = (name: string, line: number, ...args: string[]): Directive => ({ name, args, file: 'site.conf', line, col: 1 });
  const r = new ImportReport();
  r.meaningless(d('worker_processes', 1, 'auto'));
  r.meaningless(d('worker_processes', 9, '2'));
  t.equal(r.exitCode(), 0, 'meaningless directives do not fail the import');
  r.difference(d('add_header', 12, 'X-Frame-Options', 'DENY'), 'sent on every answer, also errors (nginx: without always, only 2xx/3xx)');
  r.difference(d('add_header', 12, 'X-Frame-Options', 'DENY'), 'sent on every answer, also errors (nginx: without always, only 2xx/3xx)');
  t.equal(r.exitCode(), 0);
  r.unsupported(d('proxy_pass', 4, 'http://$backend'), 'a variable target cannot be resolved at load time');
  t.equal(r.exitCode(), 1);
  t.strictSame(r.lines(), [
    'site.conf:1  worker_processes auto  meaningless  no meaning for Gatehouse',
    'site.conf:4  proxy_pass http://$backend  unsupported  a variable target cannot be resolved at load time',
    'site.conf:12  add_header X-Frame-Options DENY  translated-with-difference  sent on every answer, also errors (nginx: without always, only 2xx/3xx)',
  ]);
});
