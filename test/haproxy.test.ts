import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { connect as netConnect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { tempDir, writeConfigFile } from './helpers/edge.js';
import { deadPort, get } from './helpers/net.js';
import { spawnGatehouse, type GatehouseProcess } from './helpers/process.js';
import { openWs } from './helpers/ws.js';
import { HAPROXY, skipWithout } from './helpers/tools.js';
import { echoRequest, parseEcho, startUpstream, type Echoed } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/*
 * Two Gatehouse processes with one config behind a real HAProxy (mode tcp, send-proxy-v2,
 * health checks every 500ms), its config written from deploy/haproxy.cfg. Clients come from
 * distinct loopback addresses; HAProxy's round robin alternates the instances under them.
 */
const CLIENTS = Array.from({ length: 16 }, (_, i) => `127.0.0.${20 + i}`);

type Tap = Parameters<typeof tempDir>[0];

interface Seen { readonly name: string; readonly realIp: string; readonly xff: string }

function seenBy(told: Echoed): Seen {
  return { name: told.name, realIp: String(told.headers['x-real-ip']), xff: String(told.headers['x-forwarded-for']) };
}

/** An upstream target answering HTTP and WebSocket with its name and the request it was given. */
async function target(t: Tap, name: string): Promise<string> {
  return (await startUpstream(t, { name, answer: echoRequest(name), ws: 'request' })).address;
}

function ports(p: GatehouseProcess): { https: number; http: number } {
  const start = /"event":"start","https":(\d+),"http":(\d+)/.exec(p.output());
  if (start === null) throw new Error(`no start line:\n${p.output()}`);
  return { https: Number(start[1]), http: Number(start[2]) };
}

/**
 * deploy/haproxy.cfg with loopback addresses: its binds on the given ports, its servers
 * (10.0.0.11 → instance one, 10.0.0.12 → instance two) on the instances' ports, and the
 * global lines that need a system install (user, group, chroot) left out, and maxconn cut
 * to what a test box's descriptor limit allows (HAProxy refuses to start otherwise).
 */
function haproxyConfig(front: { https: number; http: number }, instances: readonly { https: number; http: number }[]): string {
  const template = readFileSync(join(import.meta.dirname, '..', 'deploy', 'haproxy.cfg'), 'utf8');
  const servers: Record<string, number | undefined> = {
    '10.0.0.11:443': instances[0]?.https, '10.0.0.11:80': instances[0]?.http,
    '10.0.0.12:443': instances[1]?.https, '10.0.0.12:80': instances[1]?.http,
  };
  return template.split('\n').filter((l) => !/^\s*(user|group|chroot)\s/.test(l)).map((line) => line
    .replace(/^(\s*maxconn )\d+$/, '$1500')
    .replace(/^(\s*bind )\S*:443$/, `$1127.0.0.1:${front.https}`)
    .replace(/^(\s*bind )\S*:80$/, `$1127.0.0.1:${front.http}`)
    .replace(/^(\s*server \S+ )(\S+)/, (_all, head: string, address: string) => {
      const port = servers[address];
      if (port === undefined) throw new Error(`deploy/haproxy.cfg: no test instance for server ${address}`);
      return `${head}127.0.0.1:${port}`;
    })).join('\n');
}

async function reachable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = netConnect({ host: '127.0.0.1', port }, () => { socket.destroy(); resolve(true); });
    socket.on('error', () => resolve(false));
  });
}

async function viaHttp(port: number, client: string): Promise<Seen> {
  const reply = await get(port, '/', { localAddress: client });
  if (reply.status !== 200) throw new Error(`${client}: HTTP ${reply.status} ${reply.body}`);
  return seenBy(parseEcho(reply.body));
}

async function viaWebSocket(port: number, client: string): Promise<Seen> {
  const ws = await openWs(port, '/live', { localAddress: client, origin: 'https://localhost' });
  const [message] = (await within(5_000, once(ws, 'message'), 'a message on ws')) as [Buffer];
  ws.close();
  return seenBy(parseEcho(message.toString()));
}

t.test('two instances behind HAProxy with PROXY v2: every client keeps its target through either instance, and when one dies', { skip: skipWithout(HAPROXY !== undefined, 'haproxy is not installed (apt-get install haproxy): multi-instance test skipped') }, async (t) => {
  const targets = await Promise.all(['alpha', 'bravo', 'charlie'].map((n) => target(t, n)));
  const dir = tempDir(t);
  const { file } = await writeConfigFile(t, `
listen: { https: "127.0.0.1:0", http: "127.0.0.1:0", proxyProtocol: [127.0.0.1/32] }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: [${targets.map((x) => `"${x}"`).join(', ')}] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`, dir);
  const instances = [await spawnGatehouse(t, file), await spawnGatehouse(t, file)];
  const front = { https: await deadPort(), http: await deadPort() };
  const cfg = join(dir, 'haproxy.cfg');
  writeFileSync(cfg, haproxyConfig(front, instances.map(ports)));
  const haproxy = spawn(HAPROXY as string, ['-db', '-f', cfg], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (haproxy.exitCode === null) haproxy.kill('SIGKILL'); });
  let haproxyOut = '';
  haproxy.stdout.on('data', (d: Buffer) => { haproxyOut += d.toString(); });
  haproxy.stderr.on('data', (d: Buffer) => { haproxyOut += d.toString(); });
  for (let i = 0; i < 100 && !(await reachable(front.https)); i++) {
    if (haproxy.exitCode !== null) throw new Error(`haproxy exited:\n${haproxyOut}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  if (!(await reachable(front.https))) throw new Error(`haproxy is not listening:\n${haproxyOut}`);
  // Let a few health checks (PROXY v2 LOCAL connections) reach both instances.
  await new Promise((r) => setTimeout(r, 1200));

  const chosen = new Map<string, string>();
  for (const client of CLIENTS) {
    // Two connections in a row: round robin puts them on different instances.
    const first = await viaHttp(front.https, client);
    const second = await viaHttp(front.https, client);
    t.equal(second.name, first.name, `${client}: the same target through both instances`);
    t.same([first.realIp, first.xff], [client, client], `${client}: the target sees the real client address`);
    chosen.set(client, first.name);
  }
  t.ok(new Set(chosen.values()).size > 1, 'clients are spread over the targets');
  for (const [i, p] of instances.entries()) {
    await p.until(() => CLIENTS.every((c) => p.output().includes(`"clientIp":"${c}"`)), `instance ${i + 1} logging every client`);
  }
  t.pass('each instance served every client and logged its real address');
  const logged = instances.map((p) => p.output()).join('');
  t.notMatch(logged, /"event":"proxy-protocol"/, 'no connection (health checks included) was refused');
  t.notMatch(logged, /"event":"tls-error"/, 'health checks (PROXY v2 LOCAL, then close) leave no TLS error behind');

  for (const client of CLIENTS) {
    const a = await viaWebSocket(front.https, client);
    const b = await viaWebSocket(front.https, client);
    t.same([a.name, b.name, a.realIp], [chosen.get(client), chosen.get(client), client], `${client}: WebSockets land on its HTTP target`);
  }

  const redirect = await new Promise<number>((resolve, reject) => {
    const socket = netConnect({ host: '127.0.0.1', port: front.http, localAddress: CLIENTS[0] as string });
    socket.on('error', reject);
    socket.end('GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n');
    socket.once('data', (d: Buffer) => resolve(Number(d.toString('latin1').split(' ')[1])));
  });
  t.equal(redirect, 301, ':80 through HAProxy redirects');

  const [killed] = instances;
  killed?.child.kill('SIGKILL');
  await within(10_000, once(killed?.child ?? haproxy, 'exit'), 'killed.child or haproxy to exit');
  for (const client of CLIENTS) {
    const after = await viaHttp(front.https, client);
    t.equal(after.name, chosen.get(client), `${client}: same target with one instance gone`);
    t.equal((await viaWebSocket(front.https, client)).name, chosen.get(client), `${client}: WebSocket too`);
  }
});
