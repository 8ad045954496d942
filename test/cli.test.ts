import { spawnSync } from 'node:child_process';
import { once } from 'node:events';
import t from 'tap';
import { tempDir, writeConfigFile } from './helpers/edge.js';
import { testCerts, type TestCerts } from './helpers/certs.js';
import { deadPort, get } from './helpers/net.js';
import { CLI, spawnGatehouse } from './helpers/process.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const run = (...args: string[]) => spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });

const writeConfig = async (t: Parameters<typeof tempDir>[0], body: (c: TestCerts) => string): Promise<string> => (await writeConfigFile(t, body)).file;

t.test('--help and --version', async (t) => {
  const help = run('--help');
  t.equal(help.status, 0);
  t.match(help.stdout, /gatehouse check/);
  const version = run('--version');
  t.equal(version.status, 0);
  t.match(version.stdout, /^\d+\.\d+\.\d+\n$/);
  const bad = run('--bogus');
  t.equal(bad.status, 2);
  t.match(bad.stderr, /unknown argument "--bogus"/);
});

t.test('check: a usable config exits 0 and reports days to expiry per certificate', async (t) => {
  const file = await writeConfig(t, (c) => `
tls: { minVersion: TLSv1.2, certificates: [{ cert: "${c.a.cert}", key: "${c.a.key}" }] }
upstreams: { app: { targets: [127.0.0.1:3000] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  const r = run('check', '--config', file);
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, new RegExp(`${file.replaceAll('/', '\\/')}:2:\\d+ warning: TLSv1.2`));
  t.match(r.stdout, /ok, serves localhost, app\.test, \*\.wild\.test; expires .* \(in \d+ days\)/);
  t.match(r.stdout, /configuration is usable/);
});

t.test('check: every problem as FILE:LINE:COL, exit 1', async (t) => {
  const file = await writeConfig(t, (c) => `
tls: { certificates: [{ cert: "${c.a.cert}", key: "${c.a.key}" }] }
upstreams: { app: { targets: [127.0.0.1:3000] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: ghost }] }]
timeouts: { idle: soon }
`);
  const r = run('check', '--config', file);
  t.equal(r.status, 1);
  t.match(r.stdout, `${file}:4:61 unknown upstream "ghost"`);
  t.match(r.stdout, `${file}:5:19 expected a duration`);
});

t.test('check: missing, mismatched and expired certificates name the path and the fix', async (t) => {
  const file = await writeConfig(t, (c) => `
tls:
  certificates:
    - { cert: /nonexistent/fullchain.pem, key: /nonexistent/privkey.pem }
    - { cert: "${c.a.cert}", key: "${c.b.key}" }
    - { cert: "${c.expired.cert}", key: "${c.expired.key}" }
    - { cert: "${c.garbage}", key: "${c.a.key}" }
upstreams: { app: { targets: [127.0.0.1:3000] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  const certs = await testCerts();
  const r = run('check', '--config', file);
  t.equal(r.status, 1);
  t.match(r.stdout, '/nonexistent/fullchain.pem: no such file; check tls.certificates[].cert');
  t.match(r.stdout, `${certs.b.key}: private key does not match certificate ${certs.a.cert}`);
  t.match(r.stdout, `${certs.expired.cert}: certificate expired on 2020-02-01`);
  t.match(r.stdout, `${certs.garbage}: not a PEM certificate`);
});

t.test('run: SIGTERM drains in-flight requests and exits 0', async (t) => {
  let release: () => void = () => undefined;
  const held = new Promise<void>((resolve) => { release = resolve; });
  const backend = await startBackend(t, (_req, res) => { void held.then(() => res.end('finished')); });
  const httpsPort = await deadPort();
  const file = await writeConfig(t, (c) => `
listen: { http: false, https: "127.0.0.1:${httpsPort}" }
tls: { certificates: [{ cert: "${c.a.cert}", key: "${c.a.key}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
timeouts: { drain: 10s }
`);
  const gh = await spawnGatehouse(t, file);
  const child = gh.child;
  const inflight = get(httpsPort, '/slow');
  while (backend.seen.length === 0) await new Promise((r) => setTimeout(r, 20));
  child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 200));
  await t.rejects(get(httpsPort, '/new'), 'new connections are refused while draining');
  release();
  const reply = await inflight;
  t.equal(reply.status, 200);
  t.equal(reply.body, 'finished');
  t.equal(reply.headers.connection, 'close', 'the drained response says Connection: close');
  const [code] = await within(10_000, once(child, 'exit'), 'child to exit') as [number | null];
  t.equal(code, 0);
  t.match(gh.output(), /"event":"stopped"/);
});

t.test('run: a bad config refuses to start with FILE:LINE:COL on stderr', async (t) => {
  const file = await writeConfig(t, () => 'listen: { https: nope }\n');
  const r = run('--config', file);
  t.equal(r.status, 1);
  t.match(r.stderr, `${file}:1:18 expected a port`);
});
