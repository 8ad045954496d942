// What reloads and health checks leave behind (issue 10 items 8 and 12, DESIGN 14 and 15):
// sockets counted at a raw upstream, never inferred.
import t from 'tap';
import { TunnelRegistry, type Tunnel } from '../src/proxy/tunnel.js';
import { basicConfig, reloadEdge, startEdge, type RunningEdge } from './helpers/edge.js';
import { eventually, hostileUpstream } from './helpers/hostile.js';
import { get } from './helpers/net.js';
import { within } from './helpers/wait.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

async function reload(t: Parameters<typeof reloadEdge>[0], running: RunningEdge, yaml: string): Promise<void> {
  const result = await reloadEdge(t, running, yaml);
  if (!result.applied) throw new Error(`reload refused: ${result.notes.join('; ')}`);
}

t.test('a reload that removes a target with a request in flight: its connection closes when that request ends', async (t) => {
  const old = await hostileUpstream(t, (socket) => setTimeout(() => socket.write(OK), 300));
  const next = await hostileUpstream(t, (socket) => socket.write(OK));
  const running = await startEdge(t, basicConfig([old.address]));
  const inFlight = get(running.port, '/slow');
  t.ok(await eventually(() => old.requests.length === 1), 'the request reached the old target');
  await reload(t, running, basicConfig([next.address]));
  t.equal((await inFlight).status, 200, 'the request in flight finished on the target it started with');
  t.equal((await get(running.port, '/')).status, 200);
  t.equal(next.requests.length, 1, 'new requests go to the new target');
  t.ok(await eventually(() => old.open === 0, 2000), `the retired target's keep-alive connection was closed (${old.open} open)`);
});

t.test('stopping health checks aborts the probes in flight: no socket stays open at a target that never answers', async (t) => {
  const hanging = await hostileUpstream(t, () => undefined);
  const running = await startEdge(t, basicConfig([hanging.address]).replace('targets:', 'healthCheck: { path: /healthz, interval: 100ms, timeout: 10s }, targets:'));
  t.ok(await eventually(() => hanging.requests.length >= 1), 'a probe is waiting at the target');
  await reload(t, running, basicConfig([hanging.address]));
  t.ok(await eventually(() => hanging.open === 0, 1000), `the probe's connection closed with the reload that removed the check (${hanging.open} open)`);
  const seen = hanging.requests.length;
  await new Promise((r) => setTimeout(r, 300));
  t.equal(hanging.requests.length, seen, 'and no probe runs after it');
});

t.test('an active health success brings a passively failed target back at once, inside failTimeout', async (t) => {
  let fail = true;
  const up = await hostileUpstream(t, (socket, request) => {
    if (request.path === '/healthz') socket.write(OK);
    else if (fail) socket.resetAndDestroy();
    else socket.write(OK);
  });
  const running = await startEdge(t, basicConfig([up.address]).replace('targets:', 'maxFails: 1, failTimeout: 1h, healthCheck: { path: /healthz, interval: 200ms, timeout: 1s }, targets:'));
  t.equal((await get(running.port, '/')).status, 502, 'the reset counts as a passive failure');
  fail = false;
  const target = running.edge.runtime().upstreams.get('app')?.targets[0];
  t.equal(target?.healthy(Date.now()), false, 'down for failTimeout by passive health');
  t.ok(await eventually(() => target?.healthy(Date.now()) === true, 2000), 'up again after its next good probe');
  t.equal((await get(running.port, '/')).status, 200, 'and serving its clients');
  t.ok(await running.logs.next((l) => l.event === 'health' && l.up === true), 'the recovery is logged');
});

t.test('the tunnel registry resolves idle() as its last tunnel goes, without polling', async (t) => {
  const registry = new TunnelRegistry();
  await within(1000, registry.idle(), 'idle() of an empty tunnel registry');
  t.pass('idle at once when empty');
  const removeA = registry.add({} as unknown as Tunnel);
  const removeB = registry.add({} as unknown as Tunnel);
  let idle = false;
  void registry.idle().then(() => { idle = true; });
  removeA();
  await new Promise((r) => setImmediate(r));
  t.equal(idle, false, 'one tunnel still open');
  removeB();
  await new Promise((r) => setImmediate(r));
  t.equal(idle, true, 'resolved right after the last one closed');
});
