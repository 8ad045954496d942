import { Histogram, type Registry } from 'prom-client';

/** One label value's observations: a count per bucket (the last: above every bound), their sum and number. */
interface Tally {
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/** One line of the exposition, as prom-client's registry reads a histogram's (labels: `le`; sharedLabels: the metric's own). */
interface Exposed {
  readonly labels: { le?: number | '+Inf' };
  readonly sharedLabels: Readonly<Record<string, string>>;
  readonly value: number;
  readonly metricName: string;
  readonly exemplar: null | undefined;
}

/**
 * A one-label histogram counted in plain numbers per request and handed to prom-client at scrape
 * time. prom-client's `observe()` builds a label object, validates it, hashes it to a string and
 * looks each bucket up by a number turned property name, every call: ~1 % of a keep-alive
 * request's CPU. Here a call is one Map get and a walk of the bounds.
 *
 * The registry asks a metric for `getForPromString()` (the text exposition; its `get()`, which the
 * cluster's aggregation reads, splays the labels of that same answer), so that is the one method
 * answered here, with the lines prom-client's own histogram writes, in the same order
 * (test/metrics.unit.test.ts compares both expositions for the same observations).
 */
export class TalliedHistogram extends Histogram<string> {
  readonly #name: string;
  readonly #help: string;
  readonly #label: string;
  readonly #bounds: readonly number[];
  /** By label value, in the order values were first seen (prom-client's order too). */
  readonly #tallies = new Map<string, Tally>();

  constructor(config: { readonly name: string; readonly help: string; readonly label: string; readonly buckets: readonly number[]; readonly registry: Registry }) {
    super({ name: config.name, help: config.help, labelNames: [config.label], buckets: [...config.buckets], registers: [config.registry] });
    this.#name = config.name;
    this.#help = config.help;
    this.#label = config.label;
    this.#bounds = [...config.buckets];
  }

  /** Count `value` (finite, as every duration is) under the label `labelValue`. */
  record(labelValue: string, value: number): void {
    let tally = this.#tallies.get(labelValue);
    if (tally === undefined) {
      tally = { buckets: new Float64Array(this.#bounds.length + 1), sum: 0, count: 0 };
      this.#tallies.set(labelValue, tally);
    }
    // The first bound the value does not exceed (`le`, Prometheus' "less than or equal").
    const bounds = this.#bounds;
    let i = 0;
    while (i < bounds.length && value > (bounds[i] as number)) i++;
    tally.buckets[i] = (tally.buckets[i] as number) + 1;
    tally.sum += value;
    tally.count++;
  }

  /** What prom-client's registry reads at scrape time: the cumulative buckets, +Inf, sum and count of each label value. */
  getForPromString(): Promise<{ name: string; help: string; type: 'histogram'; values: Exposed[]; aggregator: 'sum' }> {
    const values: Exposed[] = [];
    const bucket = `${this.#name}_bucket`;
    for (const [labelValue, tally] of this.#tallies) {
      const shared = { [this.#label]: labelValue };
      let cumulative = 0;
      this.#bounds.forEach((le, i) => {
        cumulative += tally.buckets[i] as number;
        values.push({ labels: { le }, sharedLabels: shared, value: cumulative, metricName: bucket, exemplar: null });
      });
      values.push(
        { labels: { le: '+Inf' }, sharedLabels: shared, value: tally.count, metricName: bucket, exemplar: null },
        { labels: {}, sharedLabels: shared, value: tally.sum, metricName: `${this.#name}_sum`, exemplar: undefined },
        { labels: {}, sharedLabels: shared, value: tally.count, metricName: `${this.#name}_count`, exemplar: undefined },
      );
    }
    return Promise.resolve({ name: this.#name, help: this.#help, type: 'histogram', values, aggregator: 'sum' });
  }
}
