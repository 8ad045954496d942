import { spawnSync } from 'node:child_process';
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import bcrypt from 'bcryptjs';
import t from 'tap';
import { loadConfig, formatProblem } from '../src/config/load.js';
import { Edge } from '../src/edge.js';
import { writeConfigFile } from './helpers/edge.js';
import { h2Get } from './helpers/h2.js';
import { get } from './helpers/net.js';
import { hasCommand, skipWithout } from './helpers/tools.js';
import { startBackend } from './helpers/upstream.js';

/*
 * `log.access: combined` on real requests: each access line is nginx's combined format, byte for
 * byte, and the tools that read nginx's access logs read these — fail2ban's filters (their stock
 * failregexes re-expressed below, run the way fail2ban runs them: the date cut out first) and
 * GoAccess's COMBINED parser, where it is installed.
 */

/** Every line the edge wrote, raw: access lines are not JSON here. */
class Lines extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('latin1').split('\n')) if (line !== '') this.lines.push(line);
    done();
  }

  async waitFor(count: (line: string) => boolean, n: number, what: string): Promise<string[]> {
    for (const start = Date.now(); Date.now() - start < 5000; await new Promise((r) => setTimeout(r, 20))) {
      const found = this.lines.filter(count);
      if (found.length >= n) return found;
    }
    throw new Error(`within 5 s: expected ${n} ${what}, got ${this.lines.filter(count).length}:\n${this.lines.join('\n')}`);
  }
}

const COMBINED = /^(\S+) - (\S+) \[(\d{2}\/[A-Z][a-z]{2}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\] "([^"]*)" (\d{3}) (\d+) "([^"]*)" "([^"]*)"$/;
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

async function combinedEdge(t: Tap) {
  const backend = await startBackend(t, (req, res) => {
    res.statusCode = req.url?.startsWith('/phpMyAdmin') === true ? 404 : 200;
    res.end('hello, world');
  });
  const { dir } = await writeConfigFile(t, '');
  writeFileSync(join(dir, 'users.htpasswd'), `alice:${bcrypt.hashSync('right', 4).replace(/^\$2b\$/, '$2y$')}\n`);
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:0" }
log: { access: combined }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: ["${backend.address}"] }
rateLimits:
  login: { rate: 1/m, burst: 0 }
sites:
  - hosts: [localhost]
    routes:
      - { path: /admin/, upstream: app, auth: { basic: { users: ${dir}/users.htpasswd } } }
      - { path: /login, upstream: app, rateLimit: login }
      - { path: /, upstream: app }
`);
  const { config, problems } = await loadConfig(file);
  if (config === undefined) throw new Error(problems.map(formatProblem).join('\n'));
  const out = new Lines();
  const edge = await Edge.create(config, { logDestination: out });
  t.teardown(() => edge.close());
  const { https } = await edge.start();
  return { port: https.port, out };
}

type Tap = Parameters<typeof startBackend>[0];

t.test('log.access: combined writes nginx combined lines that fail2ban and GoAccess read', async (t) => {
  const { port, out } = await combinedEdge(t);
  const ua = 'Mozilla/5.0 (X11; Linux x86_64) "quoted"\\';
  t.equal((await get(port, '/page?x=1', { headers: { referer: 'https://example.com/from', 'user-agent': ua } })).status, 200);
  t.equal((await get(port, '/admin/', { headers: { 'user-agent': 'curl/8.0' } })).status, 401);
  t.equal((await get(port, '/admin/', { headers: { authorization: basic('alice', 'wrong'), 'user-agent': 'curl/8.0' } })).status, 401);
  t.equal((await get(port, '/admin/', { headers: { authorization: basic('alice', 'right') } })).status, 200);
  t.equal((await get(port, '/login', { method: 'POST', body: 'x' })).status, 200);
  t.equal((await get(port, '/login', { method: 'POST', body: 'x' })).status, 429);
  t.equal((await get(port, '/phpMyAdmin/index.php')).status, 404);
  t.equal((await h2Get(t, port, { ':path': '/h2' })).status, 200);

  const lines = await out.waitFor((l) => COMBINED.test(l), 8, 'combined access lines');
  const other = out.lines.filter((l) => !COMBINED.test(l));
  t.ok(other.every((l) => l.startsWith('{')), 'every other line is a JSON event');
  t.notOk(other.some((l) => /"msg":"request"/.test(l)), 'no access line was written as JSON too');

  const shown = lines.map((l) => {
    const m = COMBINED.exec(l) as RegExpExecArray;
    return [m[1], m[2], m[4], m[5], m[6], m[7], m[8]].join(' | ');
  });
  t.same(shown, [
    '127.0.0.1 | - | GET /page?x=1 HTTP/1.1 | 200 | 12 | https://example.com/from | Mozilla/5.0 (X11; Linux x86_64) \\x22quoted\\x22\\x5C',
    '127.0.0.1 | - | GET /admin/ HTTP/1.1 | 401 | 0 | - | curl/8.0',
    '127.0.0.1 | alice | GET /admin/ HTTP/1.1 | 401 | 0 | - | curl/8.0',
    '127.0.0.1 | alice | GET /admin/ HTTP/1.1 | 200 | 12 | - | -',
    '127.0.0.1 | - | POST /login HTTP/1.1 | 200 | 12 | - | -',
    '127.0.0.1 | - | POST /login HTTP/1.1 | 429 | 0 | - | -',
    '127.0.0.1 | - | GET /phpMyAdmin/index.php HTTP/1.1 | 404 | 12 | - | -',
    '127.0.0.1 | - | GET /h2 HTTP/2.0 | 200 | 12 | - | -',
  ]);
  for (const l of lines) {
    const stamp = (COMBINED.exec(l) as RegExpExecArray)[3] as string;
    const when = Date.parse(stamp.replace(/^(\d{2})\/(\w{3})\/(\d{4}):(\S+) (\S+)$/, '$2 $1 $3 $4 $5'));
    t.ok(Math.abs(when - Date.now()) < 120_000, `$time_local ${stamp} is now`);
  }

  t.test('fail2ban: the stock failregexes, as fail2ban applies them (date cut out, <HOST> expanded)', async (t) => {
    // fail2ban 1.0 config/filter.d: <HOST> from common.conf; nginx-botsearch's failregex verbatim;
    // nginx-http-auth and nginx-limit-req read nginx's error log, so their access-log form is the
    // same line shape with 401 and 429 (what a jail on the access log of a Basic-auth or
    // limit_req site uses).
    const HOST = String.raw`(?:(?:::f{4,6}:)?(?<ip4>(?:\d{1,3}\.){3}\d{1,3})|\[?(?<ip6>(?:[0-9a-fA-F]{1,4}::?|::){1,7}(?:[0-9a-fA-F]{1,4}|(?<=:):))\]?|(?<dns>[\w\-.^_]*\w))`;
    const filters = {
      'nginx-botsearch': String.raw`^<HOST> \- \S+ \[\] \"(GET|POST|HEAD) \/\/?(?:phpMyAdmin|myadmin|mysqladmin|pma|wp-login\.php)\/?\S* \S+\" 404 .+$`,
      'nginx-http-auth (access log)': String.raw`^<HOST> \- \S+ \[\] \"\S+ \S+ \S+\" 401 .+$`,
      'nginx-limit-req (access log)': String.raw`^<HOST> \- \S+ \[\] \"\S+ \S+ \S+\" 429 .+$`,
    };
    const dated = /\[(\d{2}\/\w{3}\/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4})\]/;
    const hits = (regex: string): string[] => lines.flatMap((l) => {
      const m = new RegExp(regex.replace('<HOST>', HOST)).exec(l.replace(dated, '[]'));
      return m === null ? [] : [m.groups?.ip4 ?? ''];
    });
    t.same(hits(filters['nginx-botsearch']), ['127.0.0.1'], 'the scanner probe');
    t.same(hits(filters['nginx-http-auth (access log)']), ['127.0.0.1', '127.0.0.1'], 'both refused logins, with and without credentials');
    t.same(hits(filters['nginx-limit-req (access log)']), ['127.0.0.1'], 'the rate-limited request');
  });

  t.test('GoAccess parses every line with --log-format=COMBINED', { skip: skipWithout(hasCommand('goaccess'), 'goaccess is not installed') }, async (t) => {
    const dir = (await writeConfigFile(t, '')).dir;
    const log = join(dir, 'access.log');
    writeFileSync(log, `${out.lines.join('\n')}\n`);
    const report = join(dir, 'report.json');
    const run = spawnSync('goaccess', [log, '--log-format=COMBINED', '--no-global-config', '-o', report], { encoding: 'utf8', timeout: 30_000 });
    t.equal(run.status, 0, run.stderr);
    const json = JSON.parse(readFileSync(report, 'utf8')) as { general: Record<string, number>; status_codes: { data: { items?: { data: string }[] }[] } };
    t.equal(json.general.valid_requests, lines.length, 'every access line is a valid request');
    t.equal(json.general.failed_requests, other.length, 'only the JSON events are not');
    const codes = json.status_codes.data.flatMap((g) => (g.items ?? []).map((i) => i.data.slice(0, 3)));
    t.ok(codes.includes('401') && codes.includes('429') && codes.includes('404'), `status codes seen: ${codes.join(', ')}`);
  });
});
