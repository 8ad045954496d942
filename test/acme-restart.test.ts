import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { deadPort } from './helpers/net.js';
import { HOST_A as A, HOST_B as B, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';

/*
 * ACME storage shared over time and between instances, against pebble on loopback: what a
 * restart and a second instance reuse instead of ordering again.
 */
const skip = pebbleSkip();

t.test('a restart reuses the stored account and certificates, also while the CA is down', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  const yaml = s.config();
  const first = await startEdge(t, yaml);
  const serialA = await until(() => servedSerial(s.https, A, s.root), `a certificate for ${A}`);
  const serialB = await until(() => servedSerial(s.https, B, s.root), `a certificate for ${B}`);
  await until(async () => (first.logs.find((l) => l.event === 'acme-issued' && l.host === B) ? true : undefined), 'both issued');
  await first.edge.close();
  const account = readFileSync(join(s.storage, 'account.key'), 'utf8');
  t.equal(s.pebble.orders(), 2, 'two orders the first time');

  const second = await startEdge(t, yaml);
  t.equal(await servedSerial(s.https, A, s.root), serialA, 'the stored certificate serves at once after a restart');
  await new Promise((r) => setTimeout(r, 1500)); // the manager's first round runs at start
  t.equal(s.pebble.orders(), 2, 'no new order: the stored certificates are valid and not due');
  t.notOk(second.logs.find((l) => l.event === 'acme-order'), 'no order attempted');
  t.equal(readFileSync(join(s.storage, 'account.key'), 'utf8'), account, 'the account key is kept');
  await second.edge.close();

  await s.pebble.stop();
  const third = await startEdge(t, yaml);
  t.equal(await servedSerial(s.https, B, s.root), serialB, 'with the CA down a restart still serves what is stored');
  await new Promise((r) => setTimeout(r, 1500));
  t.notOk(third.logs.find((l) => l.event === 'acme-failed'), 'and does not even try the CA: nothing is due');
});

t.test('two instances on one storage order once, and either answers the CA from the stored token', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  const [http2, https2] = await Promise.all([deadPort(), deadPort()]);
  // The second instance starts first and so usually orders, yet pebble only dials the first one's :80.
  const two = await startEdge(t, s.config({ http: http2, https: https2 }));
  const one = await startEdge(t, s.config());
  for (const host of [A, B]) {
    const serial = await until(() => servedSerial(s.https, host, s.root), () => `${host} on instance one\n${s.pebble.output()}`);
    t.equal(await until(() => servedSerial(https2, host, s.root).then((x) => (x === serial ? x : undefined)), `${host} on instance two`), serial, `both instances serve the same certificate for ${host}`);
  }
  await new Promise((r) => setTimeout(r, 6000)); // past the lock retry of the instance that waited
  t.equal(s.pebble.orders(), 2, 'one order per host, not one per instance');
  const [byOne, byTwo] = [one, two].map((e) => e.logs.lines.filter((l) => l.event === 'acme-issued').length);
  t.equal((byOne ?? 0) + (byTwo ?? 0), 2, `issued by: one ${byOne}, two ${byTwo}`);
  t.ok([one, two].some((e) => e.logs.find((l) => l.event === 'acme-locked')), 'the other instance waited for the lock');
});
