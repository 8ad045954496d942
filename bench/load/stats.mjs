// What a load run records: HDR histograms (hdr-histogram-js) of latency in microseconds for all
// answers and per status class, per-second windows of the same for the charts, and errors
// (no answer at all) by kind per second. A worker thread's record crosses to the main thread as
// compressed-base64 histograms and is merged there, so percentiles over several workers are
// exact, never an average of percentiles. Memory is fixed by the histogram's range, not the run.
import hdr from 'hdr-histogram-js';

// 1 µs to 120 s at 3 significant digits: 0.1% resolution anywhere in the range.
const HIGHEST_US = 120_000_000;
export const CLASSES = ['2xx', '3xx', '4xx', '5xx'];
export const PERCENTILES = [['p50', 50], ['p90', 90], ['p99', 99], ['p99.9', 99.9]];

export const newHistogram = () => hdr.build({ bitBucketSize: 32, lowestDiscernibleValue: 1, highestTrackableValue: HIGHEST_US, numberOfSignificantValueDigits: 3, useWebAssembly: false });
const classOf = (status) => (status >= 200 && status < 600 ? `${Math.floor(status / 100)}xx` : 'other');
const record = (h, us) => h.recordValue(Math.min(HIGHEST_US, Math.max(1, Math.round(us))));

/** One window (the whole run, or one second): a histogram per class and errors by kind. */
function makeWindow() {
  return { all: newHistogram(), classes: new Map(), errors: new Map(), sent: 0 };
}

/** The recorder one engine writes into; `second()` closes a per-second window. */
export function makeRecorder() {
  const total = makeWindow();
  let current = makeWindow();
  const seconds = [];
  return {
    answer(status, us) {
      for (const w of [total, current]) {
        record(w.all, us);
        const c = classOf(status);
        if (!w.classes.has(c)) w.classes.set(c, newHistogram());
        record(w.classes.get(c), us);
      }
    },
    error(kind) {
      for (const w of [total, current]) w.errors.set(kind, (w.errors.get(kind) ?? 0) + 1);
    },
    sent(n = 1) { total.sent += n; current.sent += n; },
    /** Close the current second; returns it encoded (for a worker to post). */
    second() {
      const done = current;
      current = makeWindow();
      seconds.push(done);
      return encodeWindow(done);
    },
    total: () => encodeWindow(total),
    seconds: () => seconds.map(encodeWindow),
  };
}

export function encodeWindow(w) {
  return {
    all: hdr.encodeIntoCompressedBase64(w.all),
    classes: Object.fromEntries([...w.classes].map(([c, h]) => [c, hdr.encodeIntoCompressedBase64(h)])),
    errors: Object.fromEntries(w.errors),
    sent: w.sent,
  };
}

/** Merge encoded windows (one per worker) into live histograms. */
export function mergeWindows(encoded) {
  const w = makeWindow();
  for (const e of encoded) {
    w.all.add(hdr.decodeFromCompressedBase64(e.all, 32, false));
    for (const [c, text] of Object.entries(e.classes)) {
      if (!w.classes.has(c)) w.classes.set(c, newHistogram());
      w.classes.get(c).add(hdr.decodeFromCompressedBase64(text, 32, false));
    }
    for (const [k, n] of Object.entries(e.errors)) w.errors.set(k, (w.errors.get(k) ?? 0) + n);
    w.sent += e.sent;
  }
  return w;
}

const ms = (us) => Math.round(us) / 1000;
/** Percentiles in milliseconds (µs precision) of one histogram. */
export function latencySummary(h) {
  if (h.totalCount === 0) return { count: 0, p50: null, p90: null, p99: null, 'p99.9': null, max: null, mean: null };
  const out = { count: h.totalCount };
  for (const [name, p] of PERCENTILES) out[name] = ms(h.getValueAtPercentile(p));
  out.max = ms(h.maxValue);
  out.mean = ms(h.mean);
  return out;
}

/** The histogram's buckets for the report's chart: [upper bound ms, count], 40 log-spaced. */
export function buckets(h) {
  if (h.totalCount === 0) return [];
  const values = [];
  const it = h.recordedValuesIterator;
  it.reset();
  while (it.hasNext()) { const x = it.next(); values.push([x.valueIteratedTo, x.countAtValueIteratedTo]); }
  const lo = Math.max(1, h.minNonZeroValue);
  const hi = Math.max(lo + 1, h.maxValue);
  const rows = [];
  let j = 0;
  for (let i = 1; i <= 40; i++) {
    const edge = i === 40 ? Infinity : lo * (hi / lo) ** (i / 40);
    let n = 0;
    for (; j < values.length && values[j][0] <= edge; j++) n += values[j][1];
    rows.push([ms(Math.min(hi, edge)), n]);
  }
  return rows;
}
