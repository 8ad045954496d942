import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type WebSocket from 'ws';
import { tempDir, HSTS } from './helpers/edge.js';
import { deadPort, fetchText, get } from './helpers/net.js';
import { nodeBase, podman, podmanStatus, ULIMITS } from './helpers/podman.js';
import { hasCommand, skipWithout } from './helpers/tools.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { testCerts } from './helpers/certs.js';
import { startBackend, startWsBackend } from './helpers/upstream.js';

/*
 * The Dockerfile, for real: built with podman on a local Debian + Node base (no registry is
 * reachable), run read-only with a config and certificates as volumes, then HTTPS with HSTS, a
 * WebSocket, the image's HEALTHCHECK and a drain on `podman stop` over real TLS from here.
 * Slow (a clean machine: debootstrap ~1-2 min, the build ~3 min; later runs reuse both): .ci/run
 * runs it once, on the machine's Node, not on every Node line (the image carries its own Node).
 */
const REPO = join(import.meta.dirname, '..');
const IMAGE = 'localhost/gatehouse:test';
/** The Node line of the Dockerfile's default BASE (node:24-bookworm-slim). */
const NODE_LINE = 24;
const DRAIN_MS = 3000;

const root = process.getuid?.() === 0;
const SKIP = skipWithout(root && ['podman', 'runc', 'debootstrap'].every(hasCommand), root ? 'podman, runc or debootstrap is not installed' : 'needs root (debootstrap; rootful podman with --network host)');

t.setTimeout(25 * 60_000);

t.test('the image: builds on a local base, runs read-only as non-root, serves HTTPS + HSTS and a WebSocket, drains on podman stop', { skip: SKIP, timeout: 25 * 60_000 }, async (t) => {
  const started = Date.now();
  const base = await nodeBase(NODE_LINE);
  await podman(['build', '--format', 'docker', '--network', 'host', ...ULIMITS, '--build-arg', `BASE=${base.image}`, '-t', IMAGE, REPO], 15 * 60_000);
  t.comment(`base ${base.image}; image built in ${Math.round((Date.now() - started) / 1000)} s`);

  const [image] = JSON.parse(await podman(['image', 'inspect', IMAGE])) as [{ Healthcheck?: { Test?: string[] }; Config: { User?: string; StopSignal?: string; Volumes?: Record<string, unknown> } }];
  t.equal(image.Config.User, 'gatehouse:gatehouse', 'runs as the gatehouse user');
  t.equal(image.Config.StopSignal, 'SIGTERM');
  t.same(Object.keys(image.Config.Volumes ?? {}).sort(), ['/etc/gatehouse/config', '/etc/gatehouse/tls', '/var/lib/gatehouse'], 'config, certificates and ACME storage are volumes');
  t.match(image.Healthcheck?.Test?.join(' ') ?? '', /healthcheck\.mjs/, 'a HEALTHCHECK (kept by --format docker)');

  // The app on the host's loopback; the container shares the host network, so it reaches it.
  const app = await startBackend(t, (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('slow done'), 1500);
    else res.end('hello from the app');
  });
  const live = await startWsBackend(t, 'live');
  const [https, http, admin] = [await deadPort(), await deadPort(), await deadPort()];
  const certs = await testCerts();
  const dir = tempDir(t, 'gatehouse-image-');
  const [configDir, tlsDir] = [join(dir, 'config'), join(dir, 'tls')];
  mkdirSync(configDir);
  mkdirSync(tlsDir);
  // The container's uid (10001) reads these: world-readable in a private temp dir.
  copyFileSync(certs.a.cert, join(tlsDir, 'fullchain.pem'));
  copyFileSync(certs.a.key, join(tlsDir, 'privkey.pem'));
  for (const f of ['fullchain.pem', 'privkey.pem']) chmodSync(join(tlsDir, f), 0o644);
  writeFileSync(join(configDir, 'gatehouse.yaml'), `
listen: { https: "127.0.0.1:${https}", http: "127.0.0.1:${http}", admin: "127.0.0.1:${admin}" }
tls:
  certificates: [{ cert: /etc/gatehouse/tls/fullchain.pem, key: /etc/gatehouse/tls/privkey.pem }]
hsts: { maxAge: 1y }
upstreams:
  app: { targets: ["${app.address}"] }
  live: { targets: ["${live.address}"] }
sites:
  - hosts: [localhost]
    routes:
      - { path: /ws, upstream: live, websocket: {} }
      - { path: /, upstream: app }
timeouts: { drain: ${DRAIN_MS}ms }
log: { level: info, format: json }
`);
  const volumes = ['-v', `${configDir}:/etc/gatehouse/config:ro`, '-v', `${tlsDir}:/etc/gatehouse/tls:ro`];

  const checked = await podmanStatus(['run', '--rm', '--no-healthcheck', '--network', 'host', ...ULIMITS, ...volumes, IMAGE, 'check']);
  t.equal(checked.code, 0, `gatehouse check in the image:\n${checked.stdout}${checked.stderr}`);
  t.match(checked.stdout, /configuration is usable/);
  t.match(checked.stdout, new RegExp(`^runtime: Node ${base.version.replaceAll('.', '\\.')}: supported until `, 'm'), `the image runs Node ${base.version}, a supported line at or above its patch floor`);

  const name = `gatehouse-image-test-${process.pid}`;
  t.teardown(() => podmanStatus(['rm', '--force', '--volumes', '--time', '0', name]));
  // The stop timeout is the runtime's: longer than timeouts.drain, as README and compose say.
  await podman(['run', '--detach', '--name', name, '--network', 'host', '--read-only', '--stop-timeout', '30', ...ULIMITS, ...volumes, IMAGE]);
  const logs = async (): Promise<string> => { const r = await podmanStatus(['logs', name]); return `${r.stdout}${r.stderr}`; };
  await until(async () => (await logs()).includes('gatehouse is serving'), 'the start line', 60_000, logs);
  t.notMatch(await logs(), /"code":"EDGE_WARN_RUNTIME_/, 'the image\'s Node is a supported line at or above the patch floor: no runtime warning');

  const status = await podman(['exec', name, 'cat', '/proc/1/status']);
  t.match(status, /^Uid:\s+10001\s/m, 'PID 1 runs as uid 10001, not root');
  t.match(await podman(['exec', name, 'cat', '/proc/1/maps']), /libjemalloc\.so\.2/, 'jemalloc is preloaded');

  const page = await get(https, '/');
  t.equal(page.status, 200);
  t.equal(page.body, 'hello from the app', 'proxied to the app on loopback');
  t.equal(page.headers['strict-transport-security'], HSTS, 'HSTS');
  const plain = await fetchText(`http://127.0.0.1:${http}/x?y=1`);
  t.equal(plain.status, 301, 'port 80\'s stand-in redirects');

  const ws = await openWs(https, '/ws', { origin: `https://localhost:${https}` });
  t.equal(await roundTrip(ws, 'through the image'), 'live:through the image', 'a WebSocket through the container');

  const health = await podmanStatus(['healthcheck', 'run', name]);
  t.equal(health.code, 0, `HEALTHCHECK passes while serving: ${health.stdout}${health.stderr}`);

  // Drain: an in-flight request finishes, the WebSocket gets 1001, the process exits 0 by itself.
  const closed = new Promise<number>((resolve) => (ws as WebSocket).once('close', (code) => resolve(code)));
  const slow = get(https, '/slow');
  await until(() => app.seen.some((r) => r.url === '/slow'), 'the slow request to reach the app', 10_000, logs);
  const stopAt = Date.now();
  const stop = await podmanStatus(['stop', name], 60_000);
  t.equal(stop.code, 0, `podman stop: ${stop.stderr}`);
  const stoppedMs = Date.now() - stopAt;
  const answer = await slow;
  t.equal(answer.status, 200, 'the in-flight request completed');
  t.equal(answer.body, 'slow done');
  t.equal(answer.headers.connection, 'close', 'and said Connection: close (draining)');
  t.equal(await withTimeout(closed, 10_000, 'the WebSocket close'), 1001, 'the WebSocket got 1001 Going Away');
  const [state] = JSON.parse(await podman(['inspect', name])) as [{ State: { ExitCode: number; Status: string } }];
  t.equal(state.State.ExitCode, 0, `exit code 0 (a SIGKILL after the stop timeout would be 137); stopped in ${stoppedMs} ms`);
  const out = await logs();
  t.match(out, /"event":"drain"/);
  t.match(out, /"event":"stopped"/);

  // Ports 443 and 80 as uid 10001, the way compose.yaml and the Kubernetes Deployment do it: the
  // container's own network namespace with net.ipv4.ip_unprivileged_port_start lowered.
  writeFileSync(join(configDir, 'gatehouse.yaml'), `
listen: { https: 443, http: 80, admin: "127.0.0.1:9901" }
tls:
  certificates: [{ cert: /etc/gatehouse/tls/fullchain.pem, key: /etc/gatehouse/tls/privkey.pem }]
upstreams: { app: { targets: ["127.0.0.1:9"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
log: { level: info, format: json }
`);
  const refused = await podmanStatus(['run', '--rm', '--no-healthcheck', '--network', 'none', '--read-only', ...ULIMITS, ...volumes, IMAGE]);
  t.not(refused.code, 0, 'without the sysctl a non-root process may not bind 443');
  t.match(`${refused.stdout}${refused.stderr}`, /cannot listen on \*:443: ports below 1024 need root/, 'refused, and says why');
  const low = `${name}-443`;
  t.teardown(() => podmanStatus(['rm', '--force', '--volumes', '--time', '0', low]));
  await podman(['run', '--detach', '--name', low, '--network', 'none', '--sysctl', 'net.ipv4.ip_unprivileged_port_start=80', '--read-only', ...ULIMITS, ...volumes, IMAGE]);
  const lowLogs = async (): Promise<string> => { const r = await podmanStatus(['logs', low]); return `${r.stdout}${r.stderr}`; };
  await until(async () => (await lowLogs()).includes('gatehouse is serving'), 'the start line on 443', 60_000, lowLogs);
  t.match(await lowLogs(), /"https":443,"http":80/, 'serving on 443 and 80');
  t.match(await podman(['exec', low, 'cat', '/proc/1/status']), /^Uid:\s+10001\s/m, 'as uid 10001');
  const lowHealth = await podmanStatus(['healthcheck', 'run', low]);
  t.equal(lowHealth.code, 0, `and healthy: ${lowHealth.stdout}${lowHealth.stderr}`);
  t.comment(`whole test: ${Math.round((Date.now() - started) / 1000)} s`);
});

async function until(check: () => boolean | Promise<boolean>, what: string, ms: number, context: () => Promise<string>): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`timed out after ${ms} ms waiting for ${what}:\n${await context()}`);
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms); });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
