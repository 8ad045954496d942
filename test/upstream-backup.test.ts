import t from 'tap';
import { formatProblem, parseConfig } from '../src/config/load.js';
import { rank } from '../src/upstream/rendezvous.js';
import { explainRoute } from '../src/tools/route.js';
import { mappingOnce, onlyOn } from './helpers/mapping.js';
import { startEdge, tempDir } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { startUpstream } from './helpers/upstream.js';

const CLIENTS = Array.from({ length: 24 }, (_, i) => `127.0.0.${10 + i}`);

/** A target answering with its name, /healthz by `healthy`; `close()`/`listen()` take it down and back on its port. */
const named = (t: Parameters<typeof tempDir>[0], name: string) => startUpstream(t, { name, healthz: true });

const config = (targets: string[], backup: string[], extra: string) => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app:
    targets: [${targets.map((x) => `"${x}"`).join(', ')}]
    backup: [${backup.map((x) => `"${x}"`).join(', ')}]
${extra}
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`;

t.test('upstreams.NAME.backup is read at load: each address once across both lists, errors at FILE:LINE:COL', async (t) => {
  const ok = parseConfig(config(['127.0.0.1:3000'], ['127.0.0.1:3001', 'unix:/run/spare.sock'], '').replace('{{cert}}', '/c.pem').replace('{{key}}', '/k.pem'), '/etc/gatehouse/b.yaml');
  t.strictSame(ok.config?.upstreams.get('app')?.backup.map((x) => x.id), ['http://127.0.0.1:3001', 'unix:/run/spare.sock']);
  t.ok(Object.isFrozen(ok.config?.upstreams.get('app')?.backup), 'frozen with the rest');
  if (ok.config === undefined) throw new Error('the config loads');
  const explained = explainRoute(ok.config, { ip: '192.0.2.7' });
  t.match(explained, { ok: true, answer: { chosen: 'http://127.0.0.1:3000', targets: [{ target: 'http://127.0.0.1:3000', rank: 1 }, { rank: 2, backup: true }, { rank: 3, backup: true }] } }, 'gatehouse route lists the backups after the targets');
  const bad = parseConfig(config(['127.0.0.1:3000'], ['127.0.0.1:3001', '127.0.0.1:3000', 'ftp://x', '127.0.0.1:3001'], ''), '/etc/gatehouse/b.yaml');
  t.equal(bad.config, undefined);
  t.strictSame(bad.problems.filter((p) => p.severity === 'error').map(formatProblem), [
    '/etc/gatehouse/b.yaml:7:32 target http://127.0.0.1:3000 is in targets already: a backup takes clients only when no target can',
    '/etc/gatehouse/b.yaml:7:50 expected "host:port", "http(s)://host:port" (no path) or "unix:/path/to/app.sock"',
    '/etc/gatehouse/b.yaml:7:61 target http://127.0.0.1:3001 is listed twice',
  ]);
});

t.test('a backup takes no client while a target is up, all of them when none is, and gives them back', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const spare = await named(t, 'spare');
  const ids = [`http://127.0.0.1:${a.port}`, `http://127.0.0.1:${b.port}`];
  const { port, logs } = await startEdge(t, config([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], [`127.0.0.1:${spare.port}`], '    healthCheck: { path: /healthz, interval: 100ms, timeout: 1s }'));
  // The client-address hash over the primaries alone: what these clients get without any backup.
  const expected = new Map(CLIENTS.map((ip) => [ip, rank(ip, ids)[0] === ids[0] ? 'a' : 'b']));
  t.ok(new Set(expected.values()).size === 2, 'the clients spread over both targets');
  // Polled: on a loaded machine a probe can time out once and move clients for a round.
  const before = await mappingOnce(port, CLIENTS, (m) => [...expected].every(([ip, name]) => m.get(ip) === name));
  t.strictSame(before, expected, 'every client on its hashed target, none on the backup');

  a.healthy = false;
  const aDown = await mappingOnce(port, CLIENTS, (m) => [...m.values()].every((v) => v === 'b'));
  t.ok(onlyOn('b')(aDown), 'a target still up takes the clients of the one that is down, not the backup');
  b.healthy = false;
  t.ok(onlyOn('spare')(await mappingOnce(port, CLIENTS, onlyOn('spare'))), 'no target up: every client on the backup, no 502');
  t.ok(logs.find((l) => l.event === 'health' && l.up === false), 'the probes said so');

  a.healthy = true;
  b.healthy = true;
  const same = (m: Map<string, string>): boolean => [...before].every(([ip, name]) => m.get(ip) === name);
  t.strictSame(await mappingOnce(port, CLIENTS, same), before, 'each client back on its own target once the targets are up');
});

t.test('a refused target: its request goes to the backup at once, and the client returns after failTimeout', async (t) => {
  const a = await named(t, 'a');
  const spare = await named(t, 'spare');
  const { port, logs } = await startEdge(t, config([`127.0.0.1:${a.port}`], [`127.0.0.1:${spare.port}`], '    maxFails: 1\n    failTimeout: 500ms'));
  t.equal((await get(port, '/')).body, 'a');
  await a.close();
  const during = await get(port, '/');
  t.equal(during.status, 200, 'the refused connect is retried on the backup: no 502');
  t.equal(during.body, 'spare');
  t.match(await logs.next((l) => l.event === 'health' && l.up === false), { target: `http://127.0.0.1:${a.port}`, code: 'EDGE_ERR_UPSTREAM_CONNECT' }, 'the target is down for its refused connect');
  t.equal((await get(port, '/')).body, 'spare', 'while it is down, straight to the backup');
  await a.listen();
  const back = await mappingOnce(port, CLIENTS, onlyOn('a'));
  t.ok(onlyOn('a')(back), `back on a after failTimeout: ${JSON.stringify([...back.values()].slice(0, 3))}`);
});
