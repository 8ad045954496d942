// The upstream-latency histogram counts in plain numbers per request (src/admin/tallied-histogram.ts)
// and writes its exposition at scrape time: it must be what prom-client's own Histogram writes for
// the same observations, byte for byte, in text, in JSON and through the cluster's aggregation.
import t from 'tap';
import { AggregatorRegistry, Histogram, Registry } from 'prom-client';
import { TalliedHistogram } from '../src/admin/tallied-histogram.js';
import { Metrics } from '../src/admin/metrics.js';

const NAME = 'gatehouse_upstream_response_seconds';
const HELP = 'Time from request start to upstream response headers';
const BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** The same observations through prom-client's Histogram and the tallied one, each in its own registry. */
function both(observations: readonly (readonly [string, number])[]): { ref: Registry; ours: Registry } {
  const ref = new Registry();
  const ours = new Registry();
  const histogram = new Histogram({ name: NAME, help: HELP, labelNames: ['upstream'], buckets: BUCKETS, registers: [ref] });
  const tallied = new TalliedHistogram({ name: NAME, help: HELP, label: 'upstream', buckets: BUCKETS, registry: ours });
  for (const [upstream, value] of observations) {
    histogram.labels(upstream).observe(value);
    tallied.record(upstream, value);
  }
  return { ref, ours };
}

/** Edge values (each bound, just above and below it, 0, beyond the last bound) and a seeded spread, over three upstreams. */
function observations(n: number): [string, number][] {
  const out: [string, number][] = [];
  const names = ['app', 'api "quoted"', 'z\\back'];
  for (const b of BUCKETS) for (const v of [b, b * 0.999, b * 1.001]) out.push([names[out.length % 3] as string, v]);
  out.push(['app', 0], ['api "quoted"', 61], ['app', 1e6]);
  let seed = 7;
  for (let i = 0; i < n; i++) {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    const value = (seed / 2 ** 32) ** 4 * 40; // mostly small, some past 30 s
    out.push([names[seed % 3] as string, Math.round(value * 1e5) / 1e5]);
  }
  return out;
}

t.test('text exposition equals prom-client Histogram\'s for the same observations', async (t) => {
  for (const n of [0, 1, 50, 2000]) {
    const { ref, ours } = both(observations(n).slice(0, n === 0 ? 0 : undefined));
    t.equal(await ours.metrics(), await ref.metrics(), `${n} seeded observations`);
  }
});

t.test('JSON and the cluster aggregation equal prom-client Histogram\'s', async (t) => {
  const a = both(observations(300));
  const b = both(observations(500).slice(40));
  t.same(await a.ours.getMetricsAsJSON(), await a.ref.getMetricsAsJSON());
  const aggregated = AggregatorRegistry.aggregate([await a.ours.getMetricsAsJSON(), await b.ours.getMetricsAsJSON()]);
  const reference = AggregatorRegistry.aggregate([await a.ref.getMetricsAsJSON(), await b.ref.getMetricsAsJSON()]);
  t.equal(await aggregated.metrics(), await reference.metrics());
});

t.test('Metrics writes the upstream latency through it', async (t) => {
  const metrics = new Metrics(false);
  metrics.upstreamLatency('app', 0.003);
  metrics.upstreamLatency('app', 0.2);
  const text = await metrics.registry.metrics();
  t.match(text, /gatehouse_upstream_response_seconds_bucket\{le="0\.0025",upstream="app"\} 0\n/);
  t.match(text, /gatehouse_upstream_response_seconds_bucket\{le="0\.005",upstream="app"\} 1\n/);
  t.match(text, /gatehouse_upstream_response_seconds_bucket\{le="\+Inf",upstream="app"\} 2\n/);
  t.match(text, /gatehouse_upstream_response_seconds_sum\{upstream="app"\} 0\.203\n/);
  t.match(text, /gatehouse_upstream_response_seconds_count\{upstream="app"\} 2\n/);
});
