import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir } from './helpers/edge.js';
import { acmeConfig, HOST_A, HOST_B, pebbleMissing, servedSerial, stack, until } from './helpers/pebble.js';
import { spawnGatehouse } from './helpers/process.js';
import { startWsBackend } from './helpers/ws.js';

/*
 * Gatehouse's own ACME client against a real CA on loopback: pebble, with challtestsrv as its
 * DNS (every name is 127.0.0.1), validating through Gatehouse's real :80 and :443 listeners.
 */
if (pebbleMissing !== false && process.env.CI !== undefined) t.fail(`CI must have pebble (.ci/run installs it): ${pebbleMissing}`);
const skip = pebbleMissing;
const A = HOST_A;
const B = HOST_B;

t.test('with workers: 2 only the primary talks to the CA; both workers serve what it stores', { skip, timeout: 120_000 }, async (t) => {
  const dir = tempDir(t, 'gatehouse-acme-');
  const s = await stack(t, dir);
  const backend = await startWsBackend(t, 'app');
  const storage = join(dir, 'acme');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, acmeConfig({ pebble: s.pebble, backend: backend.address, storage, http: s.http, https: s.https, admin: true, extra: 'workers: 2' }));
  // 0: do not wait for the start lines here (two workers can take over 10 s on a loaded machine); the certificates are the signal.
  const gh = await spawnGatehouse(t, file, 0);
  const root = await s.pebble.root();
  for (const host of [A, B]) await until(() => servedSerial(s.https, host, root), () => `${host}\n${gh.output()}`, 60_000);
  await gh.until(() => (gh.output().match(/gatehouse is serving/g) ?? []).length >= 2, 'both workers');
  // Many handshakes, so both workers (each accepting on its own) answer some of them.
  const serials = new Set<string>();
  for (let i = 0; i < 20; i++) serials.add(await servedSerial(s.https, A, root));
  t.equal(serials.size, 1, 'every worker serves the one stored certificate');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(s.pebble.orders(), 2, 'one order per host, not per worker');
  const orderPids = new Set([...gh.output().matchAll(/"pid":(\d+),[^\n]*"event":"acme-order"/g)].map((m) => m[1]));
  t.same([...orderPids], [String(gh.child.pid)], 'the orders came from the primary');
});
