import { readFileSync } from 'node:fs';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { load, shareAtLeast } from './helpers/load.js';
import { startUpstream } from './helpers/upstream.js';

/*
 * The load tester's open model (`--rate`) against a backend that stalls 200 ms every second:
 * latency counted from each request's intended send time (wrk2's correction for coordinated
 * omission) shows the stall at p99; the closed loop, which stops sending while it waits, hides it.
 */
t.test('open model: with a backend stalling 200 ms every second, p99 shows the stall; the closed loop hides it', async (t) => {
  // Straight to an HTTPS backend (no edge in between: the test measures the tool). Answers
  // arriving in the first 200 ms of each second wait until it ends, like a GC pause.
  const certs = await testCerts();
  const t0 = Date.now();
  const server = await startUpstream(t, {
    tls: { cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) },
    answer: (_req, res) => {
      const phase = (Date.now() - t0) % 1000;
      if (phase < 200) setTimeout(() => res.end('x'.repeat(100)), 200 - phase);
      else res.end('x'.repeat(100));
    },
  });
  const url = `https://localhost:${server.port}/`;
  const ca = certs.ca.cert;
  const closed = await load(t, ['--url', url, '--ca', ca, '--connections', '1', '--duration', '3s']);
  const open = await load(t, ['--url', url, '--ca', ca, '--connections', '4', '--rate', '100', '--duration', '3s']);
  // One request outstanding at most: the rest wait in the client's backlog during the stall,
  // and only latency counted from the intended send time charges them that wait.
  const bounded = await load(t, ['--url', url, '--ca', ca, '--connections', '1', '--rate', '100', '--max-inflight', '1', '--duration', '3s']);
  for (const r of [closed, open, bounded]) t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  const c = closed.summary!;
  const o = open.summary!;
  const b = bounded.summary!;
  t.equal(o.model, 'open');
  t.equal(o.planned, 300, '100/s for 3 s');
  t.ok(o.latencyMs.p99 >= 150, `open p99 ${o.latencyMs.p99} ms reflects the 200 ms stall: ~20% of intended sends fall in it`);
  t.ok(b.latencyMs.p99 >= 150, `bounded open p99 ${b.latencyMs.p99} ms counts the backlog's wait from the intended time`);
  t.ok(c.latencyMs.max >= 100, `the closed loop met the stall too (max ${c.latencyMs.max} ms)`);
  // The closed loop met each stall with one request per connection and sent nothing meanwhile,
  // so few of its answers are slow (on a quiet machine its p99 is a few ms). A share, not a
  // percentile: on a busy machine the closed loop has fewer answers to hide the stall among.
  const closedSlow = shareAtLeast(c, 100);
  const openSlow = shareAtLeast(o, 100);
  t.ok(openSlow >= 0.05, `open model: ${(openSlow * 100).toFixed(1)}% of answers ≥ 100 ms (a stall holds 20% of intended sends, half of them ≥ 100 ms)`);
  t.ok(closedSlow < openSlow / 2, `closed loop: ${(closedSlow * 100).toFixed(1)}% ≥ 100 ms, p99 ${c.latencyMs.p99} ms — the stall hidden (coordinated omission)`);
});
