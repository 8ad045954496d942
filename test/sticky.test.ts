import { once } from 'node:events';
import t from 'tap';
import { clientMapping, mappingOnce, onlyOn } from './helpers/mapping.js';
import { startEdge, tempDir, writeConfigFile, HSTS } from './helpers/edge.js';
import { deadPort, get } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { spawnGatehouse } from './helpers/process.js';
import { fixed, startUpstream } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

const CLIENTS = Array.from({ length: 40 }, (_, i) => `127.0.0.${10 + i}`);

/** A target answering HTTP and WebSocket with its name, /healthz by `healthy`; `close()`/`listen()` take it down and back on its port. */
const named = (t: Parameters<typeof tempDir>[0], name: string) => startUpstream(t, { name, ws: 'name', healthz: true });

const config = (targets: string[], extra = '') => `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app:
    targets: [${targets.map((x) => `"${x}"`).join(', ')}]
${extra}
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app, websocket: { allowMissingOrigin: true } }] }]
`;

t.test('40 clients: stable, spread 25–75%, same target over HTTP and WebSocket, and in a second Gatehouse process', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const targets = [`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`];
  const { port } = await startEdge(t, config(targets));
  const first = await clientMapping(port, CLIENTS);
  t.strictSame(await clientMapping(port, CLIENTS), first, 'every client lands on the same target again');
  const onA = [...first.values()].filter((v) => v === 'a').length;
  t.ok(onA >= 10 && onA <= 30, `spread: ${onA}/40 on a`);
  for (const ip of CLIENTS.slice(0, 8)) {
    const ws = await openWs(port, '/', { localAddress: ip });
    t.equal(await roundTrip(ws, 'who'), first.get(ip), `${ip}: WebSocket goes where HTTP went`);
    ws.terminate();
  }

  // A separate Gatehouse process with the same targets agrees client by client.
  const otherPort = await deadPort();
  const { file } = await writeConfigFile(t, config([...targets].reverse()).replace('"127.0.0.1:0"', `"127.0.0.1:${otherPort}"`));
  const { child } = await spawnGatehouse(t, file);
  t.strictSame(await clientMapping(otherPort, CLIENTS), first, 'the other instance (targets listed in another order) maps every client the same');
  child.kill('SIGTERM');
  await within(10_000, once(child, 'exit'), 'child to exit');
});

t.test('a dead target costs its clients one move, not an error; they return when it recovers', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const { port } = await startEdge(t, config([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], '    maxFails: 1\n    failTimeout: 500ms'));
  const before = await clientMapping(port, CLIENTS);
  await a.close();
  const during = await clientMapping(port, CLIENTS);
  for (const ip of CLIENTS) {
    t.equal(during.get(ip), 'b', `${ip} served by b while a is down (no 502)`);
  }
  await a.listen();
  const same = (m: Map<string, string>): boolean => [...before].every(([ip, name]) => m.get(ip) === name);
  t.strictSame(await mappingOnce(port, CLIENTS, same), before, 'everyone is back where they were once failTimeout passes');
});

t.test('active health checks move clients off a failing target and back', async (t) => {
  const a = await named(t, 'a');
  const b = await named(t, 'b');
  const { port, logs } = await startEdge(t, config([`127.0.0.1:${a.port}`, `127.0.0.1:${b.port}`], '    healthCheck: { path: /healthz, interval: 100ms, timeout: 100ms }'));
  const before = await clientMapping(port, CLIENTS);
  a.healthy = false;
  t.ok(onlyOn('b')(await mappingOnce(port, CLIENTS, onlyOn('b'))), 'a failed its check: all on b');
  t.ok(logs.find((l) => l.event === 'health' && l.up === false), 'logged');
  a.healthy = true;
  const same = (m: Map<string, string>): boolean => [...before].every(([ip, name]) => m.get(ip) === name);
  t.strictSame(await mappingOnce(port, CLIENTS, same), before, 'back after recovery');
});

t.test('WebSocket health checks: a target whose handshake fails is taken out', async (t) => {
  const a = await named(t, 'a');
  const plain = await startUpstream(t, { answer: fixed(200, 'no websockets here') });
  const { port } = await startEdge(t, config([`127.0.0.1:${a.port}`, plain.address], '    healthCheck: { path: /, interval: 100ms, timeout: 200ms, type: websocket }'));
  t.ok(onlyOn('a')(await mappingOnce(port, CLIENTS, onlyOn('a'))), 'only the target that speaks WebSocket gets traffic');
});

t.test('all targets down → 502 with HSTS, quickly', async (t) => {
  const dead = [`127.0.0.1:${await deadPort()}`, `127.0.0.1:${await deadPort()}`];
  const { port, logs } = await startEdge(t, config(dead));
  const reply = await get(port, '/');
  t.equal(reply.status, 502);
  t.match(await logs.next((l) => l.status === 502), { code: 'EDGE_ERR_NO_HEALTHY_TARGET' }, 'logged as no target left, not as a fault of the request');
  t.equal(reply.headers['strict-transport-security'], HSTS);
  await t.rejects(openWs(port, '/'), /HTTP 502/, 'upgrades too');
});
