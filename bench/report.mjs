// The bench's markdown report: per target the median of its runs with min–max, and per pair
// (round i of a target against round i of its control) the ratio, again as median (min–max).
import { median } from './lib.mjs';

const fmt = (v, d) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const spread = (xs, d) => {
  const ok = xs.filter(Number.isFinite);
  return ok.length === 0 ? '-' : `${fmt(median(ok), d)} (${fmt(Math.min(...ok), d)}–${fmt(Math.max(...ok), d)})`;
};
/** Ratio of run i of `a` to run i of `b`, for every pair both have. */
const pairRatios = (a, b, key) => a.slice(0, b.length).map((r, i) => r[key] / b[i][key]);
/** nginx with the same worker count: the control of a Gatehouse target. */
const controlOf = (name, runsByName) => {
  const workers = name.split(/[:@/]/)[0].split('-')[1];
  const control = `nginx-${workers}`;
  return name !== control && runsByName[control] ? control : undefined;
};
/** work ↔ ref partner of a --compare target. */
const refOf = (name, runsByName) => {
  const partner = name.replace(':work', ':ref');
  return partner !== name && runsByName[partner] ? partner : undefined;
};

/** gatehouse-1/features-here ↔ gatehouse-1: the same build with another --routes config. */
const baseOf = (name, runsByName) => {
  const base = name.replace(/\/[^:@]*/, '');
  return base !== name && runsByName[base] ? base : undefined;
};

/** Node's floors (bench/floor.mjs) a Gatehouse target is set against, when they ran. */
const FLOORS = ['floor-1', 'answer-1', 'h2relay-1', 'h2compat-1', 'h2stream-1', 'tlsrelay-1'];
const floorsOf = (name, runsByName) => (name.startsWith('gatehouse-1') ? FLOORS.filter((f) => runsByName[f]) : []);

/** The peers (bench/peers.mjs) with a Gatehouse target's worker count, when they ran. */
const peersOf = (name, runsByName) => {
  if (!name.startsWith('gatehouse-')) return [];
  const workers = name.split(/[:@/]/)[0].split('-')[1];
  return ['caddy', 'fastify'].map((p) => `${p}-${workers}`).filter((p) => runsByName[p]);
};

function runTable(title, unit, runsByName, d = 1) {
  const rows = [`### ${title}`, '', `| target | CPU µs/${unit} | ${unit}/s | CPU ×nginx per pair | ${unit}/s ×nginx per pair | errors |`, '| --- | --- | --- | --- | --- | --- |'];
  for (const [name, runs] of Object.entries(runsByName)) {
    const control = controlOf(name, runsByName);
    const c = control ? runsByName[control] : undefined;
    rows.push(`| ${name} | ${spread(runs.map((r) => r.cpuUsPerOp), d)} | ${spread(runs.map((r) => r.rate), 0)} | ${c ? spread(pairRatios(runs, c, 'cpuUsPerOp'), 2) : ''} | ${c ? spread(pairRatios(runs, c, 'rate'), 2) : ''} | ${runs.reduce((a, r) => a + (r.errors || 0), 0)} |`);
  }
  for (const name of Object.keys(runsByName)) {
    const base = baseOf(name, runsByName);
    if (base) rows.push('', `${name} ÷ ${base} per pair: CPU ${spread(pairRatios(runsByName[name], runsByName[base], 'cpuUsPerOp'), 3)}, rate ${spread(pairRatios(runsByName[name], runsByName[base], 'rate'), 3)}`);
    const ref = refOf(name, runsByName);
    if (ref) rows.push('', `${name} ÷ ${ref} per pair: CPU ${spread(pairRatios(runsByName[name], runsByName[ref], 'cpuUsPerOp'), 3)}, rate ${spread(pairRatios(runsByName[name], runsByName[ref], 'rate'), 3)}`);
    for (const peer of peersOf(name, runsByName)) rows.push('', `${name} ÷ ${peer} per pair: CPU ${spread(pairRatios(runsByName[name], runsByName[peer], 'cpuUsPerOp'), 3)}, rate ${spread(pairRatios(runsByName[name], runsByName[peer], 'rate'), 3)}`);
    for (const floor of floorsOf(name, runsByName)) rows.push('', `${name} ÷ ${floor} (Node's floor) per pair: CPU ${spread(pairRatios(runsByName[name], runsByName[floor], 'cpuUsPerOp'), 3)}`);
  }
  return rows.join('\n');
}

function burstTable(burst) {
  const rows = ['### ws-burst (keep-alive before and after idle wss connections were held and closed, same processes)', '',
    '| target | burst | CPU µs/req before | after | after ÷ before | ×nginx before (per pair) | ×nginx after (per pair) | RSS MB held → after |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const name of Object.keys(burst.before)) {
    const before = burst.before[name];
    const after = burst.after[name];
    const control = controlOf(name, burst.before);
    const b = burst.burst[name];
    rows.push(`| ${name} | ${b.open} open, ${b.errors} errors | ${spread(before.map((r) => r.cpuUsPerOp), 1)} | ${spread(after.map((r) => r.cpuUsPerOp), 1)} | ${fmt(median(after.map((r) => r.cpuUsPerOp)) / median(before.map((r) => r.cpuUsPerOp)), 3)} | ${control ? spread(pairRatios(before, burst.before[control], 'cpuUsPerOp'), 2) : ''} | ${control ? spread(pairRatios(after, burst.after[control], 'cpuUsPerOp'), 2) : ''} | ${fmt(b.rssMbHeld, 0)} → ${fmt(b.rssMbAfter, 0)} |`);
  }
  return rows.join('\n');
}

export function report(results, loads) {
  const per = results.settings.count ? `${results.settings.count} operations (count mode: on-CPU ns from schedstat)` : `${results.settings.duration}s`;
  const parts = [`Targets: ${results.targets.map((t) => `${t.name}${t.node ? ` (${t.node})` : ''}`).join(', ')}. ${results.settings.runs} rounds × ${per}, warm-up ${results.settings.warmup}s, ${results.settings.connections} connections.`];
  for (const [scenario, data] of Object.entries(results.scenarios)) {
    if (scenario === 'idle') {
      parts.push('### idle', '', '| target | idle wss open | KB per connection | RSS MB |', '| --- | --- | --- | --- |',
        ...Object.entries(data).map(([n, r]) => `| ${n} | ${r.open} | ${fmt(r.kbPerConnection, 1)} | ${fmt(r.rssMb, 0)} |`));
    } else if (scenario === 'ws-burst') {
      parts.push(burstTable(data));
    } else {
      parts.push(runTable(scenario, loads[scenario].unit, data, results.settings.count ? 2 : 1));
    }
  }
  if (results.notes.length > 0) parts.push(results.notes.map((n) => `- ${n}`).join('\n'));
  return parts.join('\n\n');
}
