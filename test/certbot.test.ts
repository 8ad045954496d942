import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import WebSocket from 'ws';
import { startEdge, tempDir } from './helpers/edge.js';
import { deadPort } from './helpers/net.js';
import { servedSerial, startPebble, until } from './helpers/pebble.js';
import { skipWithoutCommands } from './helpers/tools.js';
import { startWsBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/*
 * A real ACME issuance and renewal: Debian's certbot against pebble (Let's Encrypt's test
 * server) on loopback, with the HTTP-01 challenge answered by Gatehouse's own :80 listener
 * from redirect.acmeWebroot, then `certbot renew --force-renewal` under load.
 */
const run = promisify(execFile);
const DOMAIN = 'gatehouse.test';

t.test('certbot certonly through Gatehouse\'s ACME webroot, then renew under load with nothing dropped', { skip: skipWithoutCommands(['certbot', 'pebble', 'pebble-challtestsrv']), timeout: 180_000 }, async (t) => {
  const dir = tempDir(t, 'gatehouse-acme-');
  const webroot = join(dir, 'webroot');
  mkdirSync(webroot);
  const [httpPort, tlsAlpnPort] = await Promise.all([deadPort(), deadPort()]);

  // Gatehouse first: its :80 listener answers the HTTP-01 challenge from the webroot.
  const backend = await startWsBackend(t, 'app');
  const bootstrap = await startEdge(t, `
listen: { http: "127.0.0.1:${httpPort}", https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
redirect: { acmeWebroot: "${webroot}" }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [${DOMAIN}, localhost], routes: [{ path: /, upstream: app }] }]
`);
  void bootstrap;

  // pebble's own HTTPS has a throwaway CA that its client (certbot) is told to trust.
  const pebble = await startPebble(t, dir, { httpPort, tlsPort: tlsAlpnPort });
  const certbotArgs = ['--config-dir', join(dir, 'etc'), '--work-dir', join(dir, 'work'), '--logs-dir', join(dir, 'logs'),
    '--server', pebble.directory, '--agree-tos', '--register-unsafely-without-email', '--non-interactive'];
  const env = { ...process.env, REQUESTS_CA_BUNDLE: pebble.caFile };
  try {
    await run('certbot', ['certonly', '--webroot', '-w', webroot, '-d', DOMAIN, ...certbotArgs], { env, timeout: 60_000 });
  } catch (err) {
    throw new Error(`certbot certonly failed: ${(err as { stderr?: string }).stderr ?? String(err)}\n${pebble.output()}`);
  }
  const live = join(dir, 'etc', 'live', DOMAIN);
  const root = await pebble.root();

  // The edge under test serves the certbot live/ paths.
  const edge = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  watch: { settle: 200ms, recheck: 1h }
  certificates: [{ cert: "${join(live, 'fullchain.pem')}", key: "${join(live, 'privkey.pem')}" }]
upstreams: { app: { targets: ["${backend.address}"] } }
sites:
  - hosts: [${DOMAIN}]
    routes: [{ path: /, upstream: app, websocket: { origins: ["https://${DOMAIN}"] } }]
`);
  const first = await servedSerial(edge.port, DOMAIN, root);
  t.equal(first, new X509Certificate(readFileSync(join(live, 'cert.pem'))).serialNumber, 'serving the issued certificate');

  // Load while renewing: keep-alive requests, new connections, and one open WebSocket.
  const agent = new Agent({ keepAlive: true, ca: root, servername: DOMAIN });
  t.teardown(() => agent.destroy());
  // servername is passed through to tls.connect (ws's types do not list it).
  const wsOptions = { ca: root, servername: DOMAIN, origin: `https://${DOMAIN}`, headers: { host: DOMAIN } };
  const ws = new WebSocket(`wss://127.0.0.1:${edge.port}/`, wsOptions);
  await within(5_000, new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); }), 'the WebSocket to open before renewal');
  let wsClosed = false;
  ws.on('close', () => { wsClosed = true; });
  let stop = false;
  let ok = 0;
  const failed: string[] = [];
  const loop = async (a: Agent | false): Promise<void> => {
    for (let i = 0; i < 20_000 && !stop; i++) {
      await new Promise<void>((resolve) => {
        request({ host: '127.0.0.1', port: edge.port, path: '/', servername: DOMAIN, ca: root, agent: a, headers: { host: DOMAIN } }, (res) => {
          res.resume();
          res.on('end', () => { if (res.statusCode === 200) ok++; else failed.push(String(res.statusCode)); resolve(); });
        }).on('error', (err) => { failed.push(err.message); resolve(); }).end();
      });
    }
  };
  const loops = [loop(agent), loop(false)];
  const guard = setTimeout(() => { stop = true; }, 90_000);
  try {
    await run('certbot', ['renew', '--force-renewal', '--no-random-sleep-on-renew', ...certbotArgs], { env, timeout: 60_000 });
  } catch (err) {
    stop = true;
    const certbotLog = readFileSync(join(dir, 'logs', 'letsencrypt.log'), 'utf8').split('\n').slice(-40).join('\n');
    throw new Error(`certbot renew failed: ${String(err)}\n${certbotLog}\n${pebble.output().slice(-3000)}`);
  }
  const renewed = new X509Certificate(readFileSync(join(live, 'cert.pem'))).serialNumber;
  t.not(renewed, first, 'certbot issued a new certificate');
  const t0 = Date.now();
  await until(() => servedSerial(edge.port, DOMAIN, root).then((x) => (x === renewed ? x : undefined)), 'the renewed certificate to be served', 10_000);
  t.comment(`renewed certificate served within ${Date.now() - t0} ms of certbot finishing`);
  await new Promise((r) => setTimeout(r, 300));
  stop = true;
  clearTimeout(guard);
  await Promise.all(loops);
  const echo = await within(5_000, new Promise<string>((resolve) => { ws.once('message', (d) => resolve(d.toString())); ws.send('after renewal'); }), 'the echo of a message sent after renewal');
  ws.terminate();
  t.equal(echo, 'app:after renewal', 'the WebSocket opened before renewal still echoes');
  t.equal(wsClosed, false, 'and was never closed');
  t.strictSame(failed, [], `no failed requests (${ok} succeeded during the renewal)`);
  t.ok(edge.logs.find((l) => l.event === 'cert-swap' && (l.new as { serial?: string } | undefined)?.serial === renewed), 'swap logged');
});
