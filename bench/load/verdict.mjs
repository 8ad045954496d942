// Judging runs. `--fail-on "p99<200ms,errors<0.1%,rps>1000"` checks a summary and names each
// line that failed (the CLI exits 1); `--compare A.json B.json` prints each figure's change from
// A to B with a verdict: better, worse, or same when within `tolerance` (5% by default, since two
// runs of the same thing on a shared machine differ by a few percent).

const LATENCY = ['p50', 'p90', 'p99', 'p99.9', 'max', 'mean'];

/** The figure a threshold names, from a summary (latency in ms, errors as a fraction). */
function figure(summary, name) {
  if (LATENCY.includes(name)) return summary.latencyMs?.[name] ?? NaN;
  if (name === 'rps') return summary.reqPerS;
  if (name === 'errors') return summary.errorRate;
  if (name === 'shortfall') return summary.planned ? summary.shortfall / summary.planned : 0;
  if (name === 'ws-dropped') return summary.websockets?.dropped ?? 0;
  throw new Error(`unknown figure "${name}" (use ${[...LATENCY, 'rps', 'errors', 'shortfall', 'ws-dropped'].join(', ')})`);
}

/** "p99<200ms,errors<0.1%,rps>1000" → [{ text, name, op, limit }] with limits in ms / fractions. */
export function parseThresholds(text) {
  return String(text).split(',').map((t) => t.trim()).filter(Boolean).map((text) => {
    const m = /^([a-z0-9.-]+)\s*(<=|>=|<|>)\s*(\d+(?:\.\d+)?)\s*(ms|s|us|%)?$/i.exec(text);
    if (!m) throw new Error(`bad threshold "${text}" (use e.g. p99<200ms, errors<0.1%, rps>1000)`);
    const [, name, op, num, unit] = m;
    figure({ latencyMs: {} }, name); // unknown names fail here, before any load
    const value = Number(num);
    const limit = unit === 's' ? value * 1000 : unit === 'us' ? value / 1000 : unit === '%' ? value / 100 : value;
    return { text, name, op, limit };
  });
}

const holds = (v, op, limit) => ({ '<': v < limit, '<=': v <= limit, '>': v > limit, '>=': v >= limit }[op]);

/** Each threshold with the run's figure and whether it held (NaN never holds). */
export function checkThresholds(summary, thresholds) {
  return thresholds.map((t) => {
    const actual = figure(summary, t.name);
    return { ...t, actual, ok: Number.isFinite(actual) && holds(actual, t.op, t.limit) };
  });
}

export function formatCheck(c) {
  const show = (v) => (c.name === 'errors' || c.name === 'shortfall' ? `${(v * 100).toFixed(3)}%` : c.name === 'rps' || c.name === 'ws-dropped' ? String(Math.round(v)) : `${v.toFixed(2)} ms`);
  return `${c.ok ? 'pass' : 'FAIL'}  ${c.text}  (actual ${Number.isFinite(c.actual) ? show(c.actual) : 'none'})`;
}

// Figures compared, and which direction is better.
const COMPARED = [
  ['rps', 'req/s', 'higher'], ['p50', 'p50 ms', 'lower'], ['p90', 'p90 ms', 'lower'], ['p99', 'p99 ms', 'lower'],
  ['p99.9', 'p99.9 ms', 'lower'], ['max', 'max ms', 'lower'], ['errors', 'errors', 'lower'],
];

/** Per figure: A, B, change in %, verdict. */
export function compareRuns(a, b, tolerance = 0.05) {
  return COMPARED.map(([name, label, better]) => {
    const x = figure(a, name);
    const y = figure(b, name);
    const change = x === 0 ? (y === 0 ? 0 : Infinity) : (y - x) / Math.abs(x);
    let verdict = 'same';
    if (!Number.isFinite(x) || !Number.isFinite(y)) verdict = 'n/a';
    else if (name === 'errors' ? x !== y : Math.abs(change) > tolerance) verdict = (better === 'higher') === (y > x) ? 'better' : 'worse';
    return { name, label, a: x, b: y, change, verdict };
  });
}

export function formatComparison(rows, aName, bName) {
  const fmt = (name, v) => (!Number.isFinite(v) ? '–' : name === 'errors' ? `${(v * 100).toFixed(3)}%` : name === 'rps' ? String(Math.round(v)) : v.toFixed(2));
  const lines = [`| figure | ${aName} | ${bName} | change | verdict |`, '| --- | --- | --- | --- | --- |'];
  for (const r of rows) {
    const change = Number.isFinite(r.change) ? `${r.change >= 0 ? '+' : ''}${(r.change * 100).toFixed(1)}%` : '–';
    lines.push(`| ${r.label} | ${fmt(r.name, r.a)} | ${fmt(r.name, r.b)} | ${change} | ${r.verdict} |`);
  }
  return lines.join('\n');
}
