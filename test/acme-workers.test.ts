import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { HOST_A as A, HOST_B as B, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';
import { spawnGatehouse } from './helpers/process.js';

/*
 * ACME with workers against pebble on loopback: the primary process orders, the workers only
 * serve what it writes into storage.
 */
const skip = pebbleSkip();

t.test('with workers: 2 only the primary talks to the CA; both workers serve what it stores', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  const file = join(s.dir, 'gatehouse.yaml');
  writeFileSync(file, s.config({ admin: true, extra: 'workers: 2' }));
  // 0: do not wait for the start lines here (two workers can take over 10 s on a loaded machine); the certificates are the signal.
  const gh = await spawnGatehouse(t, file, 0);
  for (const host of [A, B]) await until(() => servedSerial(s.https, host, s.root), () => `${host}\n${gh.output()}`, 60_000);
  await gh.until(() => (gh.output().match(/gatehouse is serving/g) ?? []).length >= 2, 'both workers');
  // Many handshakes, so both workers (each accepting on its own) answer some of them. Each worker
  // picks the stored certificate up through its own watch of storage, so the first worker to serve
  // it may be ahead of the other by a moment: wait (bounded) for a round of 20 in which every
  // handshake succeeds. (CI once caught the other worker still without it: a failed handshake.)
  const serials = await until(async () => {
    const round = new Set<string>();
    for (let i = 0; i < 20; i++) round.add(await servedSerial(s.https, A, s.root));
    return round;
  }, () => `20 handshakes in a row answered by either worker\n${gh.output()}`, 30_000);
  t.equal(serials.size, 1, 'every worker serves the one stored certificate');
  await new Promise((r) => setTimeout(r, 1500));
  t.equal(s.pebble.orders(), 2, 'one order per host, not per worker');
  const orderPids = new Set([...gh.output().matchAll(/"pid":(\d+),[^\n]*"event":"acme-order"/g)].map((m) => m[1]));
  t.same([...orderPids], [String(gh.child.pid)], 'the orders came from the primary');
});
