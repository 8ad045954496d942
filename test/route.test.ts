import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { CLI } from './helpers/process.js';
import { routeCommand, type RouteFlags } from '../src/tools/route.js';
import { UsageError } from '../src/tools/command.js';
import { startBackend, type Upstream } from './helpers/upstream.js';

/** The built CLI: the wiring from argv to exit code and output. */
const cli = (...args: string[]) => spawnSync(process.execPath, [CLI, 'route', ...args], { encoding: 'utf8', timeout: 60_000 });

/** The command itself, in process: spawning one node per address would cost seconds each on a busy machine. */
const route = (flags: RouteFlags) => routeCommand(flags, undefined);

const CLIENTS = Array.from({ length: 8 }, (_, i) => `127.0.0.${20 + i}`);

interface Answer {
  site: string;
  route: string;
  upstream: string;
  key: string;
  targets: { target: string; rank: number }[];
  chosen: string;
}

/** Backends that answer with their own target id, as Gatehouse's logs write it. */
async function identified(t: Parameters<typeof startBackend>[0], n: number): Promise<Upstream[]> {
  const backends: Upstream[] = [];
  for (let i = 0; i < n; i++) {
    const b: Upstream = await startBackend(t, (_req, res) => res.end(`http://${b.address}`));
    backends.push(b);
  }
  return backends;
}

const config = (app: readonly Upstream[], api: readonly Upstream[]) => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: [${app.map((b) => `"${b.address}"`).join(', ')}] }
  api: { targets: [${api.map((b) => `"http://${b.address}"`).join(', ')}], hash: { ipv4Prefix: 24 } }
sites:
  - hosts: [localhost, app.test]
    routes: [{ path: /, upstream: app }, { path: /api, upstream: api }]
  - hosts: [other.test]
    routes: [{ path: /only, upstream: app }]
`;

t.test('route --json names the target that live requests from each client address reach', async (t) => {
  const app = await identified(t, 4);
  const api = await identified(t, 3);
  const { port, dir, logs } = await startEdge(t, config(app, api));
  const file = join(dir, 'gatehouse.yaml');
  const chosen = new Set<string>();
  const viaCli = cli('--config', file, '--ip', CLIENTS[0] as string, '--json');
  t.equal(viaCli.status, 0, viaCli.stderr);
  t.equal(viaCli.stdout.split('\n').length, 2, 'the CLI prints exactly one line: one JSON object');
  t.strictSame(JSON.parse(viaCli.stdout), JSON.parse((await route({ config: file, ip: CLIENTS[0] as string, json: true })).stdout));
  for (const ip of CLIENTS) {
    const r = await route({ config: file, ip, json: true });
    t.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as Answer;
    t.strictSame(Object.keys(answer), ['site', 'route', 'upstream', 'key', 'targets', 'chosen', 'match', 'why', 'captures', 'action']);
    t.match(answer, { site: 'localhost', route: '/', upstream: 'app', key: ip });
    t.strictSame(answer.targets.map((x) => x.rank), [1, 2, 3, 4]);
    t.strictSame([...answer.targets.map((x) => x.target)].sort(), app.map((b) => `http://${b.address}`).sort(), 'every target ranked once');
    t.equal(answer.chosen, answer.targets[0]?.target);
    const live = await get(port, '/', { localAddress: ip });
    t.equal(live.body, answer.chosen, `${ip}: the live request went where route said`);
    const line = await logs.next((l) => l.msg === 'request' && l.clientIp === ip);
    t.equal(line?.target, answer.chosen, `${ip}: and the request log names the same target`);
    chosen.add(answer.chosen);
  }
  t.ok(chosen.size >= 2, `the clients spread over ${chosen.size} targets, so agreement is not luck`);
});

t.test('route follows the longest route prefix, another host and the upstream hash prefix', async (t) => {
  const app = await identified(t, 3);
  const api = await identified(t, 3);
  const { port, dir } = await startEdge(t, config(app, api));
  const file = join(dir, 'gatehouse.yaml');
  const spread = new Set<string>();
  for (const ip of CLIENTS.slice(0, 6)) {
    const r = await route({ config: file, ip, host: 'APP.test:8443', path: '/api/v1/items?x=1', json: true });
    t.equal(r.code, 0, r.stderr);
    const answer = JSON.parse(r.stdout) as Answer;
    t.match(answer, { site: 'localhost', route: '/api', upstream: 'api', key: '127.0.0.0/24' });
    const live = await get(port, '/api/v1/items?x=1', { localAddress: ip, headers: { host: 'app.test' } });
    t.equal(live.body, answer.chosen, `${ip}: live /api request went where route said`);
    spread.add(answer.chosen);
  }
  t.equal(spread.size, 1, 'a /24 hashes as one client');
  const climbed = JSON.parse((await route({ config: file, ip: '127.0.0.20', path: '/api/%2e%2e/items', json: true })).stdout) as Answer;
  t.match(climbed, { route: '/', upstream: 'app' }, 'dot segments are removed before matching, as on the request path');
  const mapped = JSON.parse((await route({ config: file, ip: '::ffff:127.0.0.20', json: true })).stdout) as Answer;
  t.equal(mapped.key, '127.0.0.20', 'an IPv4-mapped address is the IPv4 client');
  const v6 = JSON.parse((await route({ config: file, ip: '2001:db8:1:2:3:4:5:6', json: true })).stdout) as Answer;
  t.equal(v6.key, '2001:db8:1:2:0:0:0:0/64', 'IPv6 is masked to ipv6Prefix');
});

t.test('route text output: site, route, upstream, key, ranked targets, the chosen one marked', async (t) => {
  const app = await identified(t, 3);
  const { dir } = await startEdge(t, config(app, app));
  const r = await route({ config: join(dir, 'gatehouse.yaml'), ip: '127.0.0.9' });
  t.equal(r.code, 0, r.stderr);
  const json = JSON.parse((await route({ config: join(dir, 'gatehouse.yaml'), ip: '127.0.0.9', json: true })).stdout) as Answer;
  t.match(r.stdout, /^client +127\.0\.0\.9\nsite +localhost\nroute +\/\nupstream +app\nkey +127\.0\.0\.9\ntargets\n/);
  const ranked = json.targets.map((x, i) => `  ${i + 1}. ${x.target}${i === 0 ? '   <- chosen' : ''}`).join('\n');
  t.ok(r.stdout.includes(ranked), 'targets listed in rank order, the first marked chosen');
  t.match(r.stdout, new RegExp(`\\nchosen +${json.chosen.replaceAll('.', '\\.')} `));
});

t.test('route errors: bad address, unserved host, unmatched path, bad config, missing flags', async (t) => {
  const app = await identified(t, 2);
  const { dir } = await startEdge(t, config(app, app));
  const file = join(dir, 'gatehouse.yaml');
  const failures: [RouteFlags, string][] = [
    [{ ip: '300.1.2.3' }, '--ip "300.1.2.3" is not an IPv4 or IPv6 address'],
    [{ ip: '127.0.0.1', host: 'nobody.test' }, 'no site serves host "nobody.test" (a live request would get 421)'],
    [{ ip: '127.0.0.1', host: 'other.test', path: '/elsewhere' }, 'no route of site "other.test" matches path "/elsewhere" (routes: /only; a live request would get 404)'],
    [{ ip: '127.0.0.1', path: 'api' }, '--path "api" must start with "/"'],
    [{ ip: '127.0.0.1', path: '/a/../../etc' }, '--path "/a/../../etc" climbs above "/" with dot segments (a live request would get 400)'],
    [{ ip: '127.0.0.1', config: join(dir, 'absent.yaml') }, 'absent.yaml'],
  ];
  for (const [flags, message] of failures) {
    const r = await route({ config: file, ...flags });
    t.strictSame({ code: r.code, stdout: r.stdout }, { code: 1, stdout: '' }, message);
    t.match(r.stderr, message);
  }
  await t.rejects(route({ config: file }), new UsageError('route needs --ip ADDR'));
  // The CLI maps them to exit codes: 1 for an answerable question with no route, 2 for a usage error.
  const bad = cli('--config', file, '--ip', '300.1.2.3');
  t.equal(bad.status, 1);
  t.match(bad.stderr, '--ip "300.1.2.3" is not an IPv4 or IPv6 address');
  const noIp = cli('--config', file, '--bogus');
  t.equal(noIp.status, 2);
  t.match(noIp.stderr, "Unknown option '--bogus'");
});
