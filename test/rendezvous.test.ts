import t from 'tap';
import { clientKey, fnv1a, pick, rank } from '../src/upstream/rendezvous.js';

const targets = ['http://127.0.0.1:3000', 'http://127.0.0.1:3001', 'http://127.0.0.1:3002'];
const clients = Array.from({ length: 40 }, (_, i) => `127.0.0.${10 + i}`);

t.test('the hash is fixed: these values are part of the cross-instance contract', async (t) => {
  // Changing the hash would move every client on upgrade: pin it.
  t.equal(fnv1a(''), 0x811c9dc5);
  t.equal(fnv1a('a'), 0xe40c292c);
  t.strictSame(rank('203.0.113.7', targets), rank('203.0.113.7', [...targets].reverse()), 'order of config does not matter');
});

t.test('same client → same target; ranks are stable across calls', async (t) => {
  for (const c of clients) t.strictSame(rank(c, targets), rank(c, targets));
});

t.test('spread: 40 clients over 2 targets land 25–75% on each', async (t) => {
  const two = targets.slice(0, 2);
  const counts = new Map<string, number>();
  for (const c of clients) {
    const first = rank(c, two)[0] as string;
    counts.set(first, (counts.get(first) ?? 0) + 1);
  }
  for (const id of two) {
    const n = counts.get(id) ?? 0;
    t.ok(n >= 10 && n <= 30, `${id} got ${n}/40`);
  }
});

t.test('removing a target moves only its clients', async (t) => {
  const removed = targets[2] as string;
  const rest = targets.slice(0, 2);
  let moved = 0;
  for (const c of clients) {
    const before = rank(c, targets)[0];
    const after = rank(c, rest)[0];
    if (before !== removed) t.equal(after, before, `${c} stays`);
    else {
      moved++;
      t.equal(after, rank(c, targets)[1], `${c} goes to its next-ranked target`);
    }
  }
  t.ok(moved > 0, 'some clients were on the removed target');
});

t.test('pick skips unhealthy and excluded targets in rank order', async (t) => {
  // Target `down` is the one not usable (-1: every one is).
  let down = -1;
  const objs = targets.map((id, i) => ({ id, usable: () => down !== i }));
  for (const c of clients) {
    const order = rank(c, targets);
    const obj = (id: string | undefined): (typeof objs)[number] => objs.find((o) => o.id === id) as (typeof objs)[number];
    down = -1;
    t.equal(pick(c, objs, undefined)?.id, order[0]);
    t.equal(pick(c, objs, new Set([obj(order[0])]))?.id, order[1]);
    down = targets.indexOf(order[0] as string);
    t.equal(pick(c, objs, undefined)?.id, order[1], 'the first-ranked one down');
    down = -1;
    t.equal(pick(c, objs, new Set(objs.filter((o) => o.id !== order[2])))?.id, order[2], 'the one usable target, whatever its rank');
    t.equal(pick(c, objs, new Set(objs)), undefined);
  }
});

t.test('client keys: prefixes mask host bits; mapped IPv4 is plain IPv4', async (t) => {
  t.equal(clientKey('192.0.2.77', 32, 64), '192.0.2.77');
  t.equal(clientKey('192.0.2.77', 24, 64), '192.0.2.0/24');
  t.equal(clientKey('192.0.2.200', 24, 64), clientKey('192.0.2.1', 24, 64));
  t.equal(clientKey('2001:db8:1:2:aaaa::1', 32, 64), '2001:db8:1:2:0:0:0:0/64');
  t.equal(clientKey('2001:db8:1:2:ffff::9', 32, 64), clientKey('2001:db8:1:2::1', 32, 64));
  t.not(clientKey('2001:db8:1:3::1', 32, 64), clientKey('2001:db8:1:2::1', 32, 64));
  t.equal(clientKey('::1', 32, 128), '0:0:0:0:0:0:0:1');
  t.equal(clientKey('10.1.2.3', 0, 64), '0.0.0.0/0');
});
