#!/usr/bin/env node
// `npm run bench`: Gatehouse and — when installed — nginx in front of the same loopback
// backends, all started at once and loaded in turn (A B A B …, same warm-up, proxy on core 0,
// load generator on the last core), so every run of one target has a run of the control beside
// it in time. Each figure is the proxy's own CPU per operation (/proc utime+stime) and its rate;
// each ratio to nginx is taken per pair and reported with its spread (min–max).
// `npm run bench -- --url https://host/ ...` loads any edge instead (see bench/README.md).
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { startBenchBackend } from './backend.mjs';
import { report } from './report.mjs';
import { cores, countLoad, cpuMicros, cpuNanos, h2load, have, idleSockets, options, out, parseSeconds, rssKb, sleep, wrk, wsRelay } from './lib.mjs';
import { PEERS, missingPeer } from './peers.mjs';
import { FLOOR_MODES, buildRef, nodeVersion, startTarget } from './targets.mjs';

const argv = process.argv.slice(2);
const { opt, flag } = options(argv);

if (opt('url') !== undefined || opt('scenario') === 'rotate' || /\.json$/.test(opt('compare') ?? '')) {
  await import('./user.mjs');
  process.exit(process.exitCode ?? 0);
}

const DURATION = parseSeconds(opt('duration', '6s'));
const RUNS = Math.min(20, Number(opt('runs', '3')));
const WARMUP = parseSeconds(opt('warmup', '3s'));
const CONNECTIONS = Number(opt('connections', '50'));
const IDLE = Math.min(9500, Number(opt('idle', '2000')));
const HOLD = parseSeconds(opt('hold', '3s'));
const ONLY = opt('only', 'gatehouse-1,nginx-1').split(',');
const SCENARIOS = opt('scenarios', 'keepalive,handshake,websocket,h2,idle').split(',').flatMap((s) => (s === 'h2' ? ['h2-c10m10', 'h2-c50m1'] : [s]));
// Extra Node flags for Gatehouse, e.g. --node-args "--cpu-prof --cpu-prof-dir=bench/out/prof".
const NODE_ARGS = opt('node-args', '', true).split(' ').filter(Boolean);
const NODES = opt('node', process.execPath).split(',');
const COMPARE = opt('compare');
// Count mode: exactly COUNT operations per run from bench/count-load.mjs, the proxy's on-CPU
// time from the scheduler (ns) instead of ticks; its connections are opened before the clock starts.
const COUNT = opt('count') === undefined ? undefined : Number(opt('count'));

const LOADS = {
  keepalive: { unit: 'req', run: (t) => wrk(t.port, { connections: CONNECTIONS, seconds: DURATION }) },
  handshake: { unit: 'handshake', run: (t) => wrk(t.port, { connections: CONNECTIONS, seconds: DURATION, extra: ['-H', 'Connection: close'] }) },
  websocket: { unit: 'msg', run: (t, ca) => wsRelay(t.port, { connections: CONNECTIONS, seconds: DURATION, ca }) },
  // The same load on a path both proxies cache (Gatehouse `cache`, nginx `proxy_cache`): every request after the first is a hit.
  'cache-hit': { unit: 'req', run: (t) => wrk(t.port, { connections: CONNECTIONS, seconds: DURATION, path: '/cached/hit' }) },
  'h2-c10m10': { unit: 'req', h2: true, run: (t) => h2load(t.h2Port, { clients: 10, streams: 10, seconds: DURATION }) },
  'h2-c50m1': { unit: 'req', h2: true, run: (t) => h2load(t.h2Port, { clients: 50, streams: 1, seconds: DURATION }) },
};
const COUNT_MODES = { keepalive: ['keepalive', CONNECTIONS, 1], 'cache-hit': ['keepalive', CONNECTIONS, 1, '/cached/hit'], handshake: ['handshake', CONNECTIONS, 1], websocket: ['websocket', CONNECTIONS, 1], 'h2-c10m10': ['h2', 10, 10], 'h2-c50m1': ['h2', 50, 1] };
for (const s of SCENARIOS) if (!LOADS[s] && s !== 'idle' && s !== 'ws-burst') throw new Error(`unknown scenario ${s}`);

/** One bounded load against one target, with the target's CPU time spent during it. */
async function measure(target, scenario, ca) {
  if (COUNT !== undefined) {
    const [mode, connections, streams, path] = COUNT_MODES[scenario];
    // A new connection costs ~10 keep-alive requests: a tenth as many keeps the runs alike in length.
    const count = scenario === 'handshake' ? Math.ceil(COUNT / 10) : COUNT;
    const r = await countLoad(LOADS[scenario].h2 ? target.h2Port : target.port, { mode, count, connections, streams, ca, path }, () => cpuNanos(target.pid));
    return { cpuUsPerOp: r.cpu / 1000 / Math.max(1, r.ops), rate: r.rate, ops: r.ops, errors: r.errors };
  }
  const c0 = cpuMicros(target.pid);
  const r = await LOADS[scenario].run(target, ca);
  const cpuUsPerOp = (cpuMicros(target.pid) - c0) / Math.max(1, r.ops);
  return { cpuUsPerOp, rate: r.rate, ops: r.ops, errors: r.errors, p99Ms: r.p99Ms, ...(r.protocol ? { protocol: r.protocol } : {}), raw: r.raw };
}
const short = (r) => `${r.cpuUsPerOp.toFixed(COUNT === undefined ? 1 : 2)} µs/op, ${Math.round(r.rate)}/s, errors ${r.errors}${r.protocol && r.protocol !== 'h2' ? `, protocol ${r.protocol}` : ''}`;

/** RUNS rounds of `scenario`, each round one run per target in the same order. */
async function interleave(targets, scenario, ca, into, label = scenario) {
  // Count mode: one uncounted run of this very load first (the h2-only floors get no wrk warm-up).
  if (COUNT !== undefined && WARMUP > 0) for (const t of targets) await measure(t, scenario, ca);
  for (let i = 0; i < RUNS; i++) {
    // --abba: every other round in reverse order, so no target always runs right after another (a position bias cancels).
    for (const t of flag('abba') && i % 2 === 1 ? [...targets].reverse() : targets) {
      const r = await measure(t, scenario, ca);
      (into[t.name] ??= []).push(r);
      process.stderr.write(`  ${label} round ${i + 1}/${RUNS} ${t.name}: ${short(r)}\n`);
      if (flag('verbose') && r.raw) process.stderr.write(r.raw);
    }
  }
}

async function idleMemory(target, ca) {
  const before = rssKb(target.pid);
  const held = await idleSockets(target.port, { count: IDLE, ca });
  await sleep(1000);
  const after = rssKb(target.pid);
  await held.close();
  return { open: held.open, errors: held.errors, kbPerConnection: held.open > 0 ? (after - before) / held.open : NaN, rssMb: after / 1024 };
}

/**
 * The post-WebSocket question: keep-alive rounds, then IDLE idle wss connections opened on
 * every target, held HOLD seconds and closed, then the same rounds again, in the same
 * processes. nginx gets the same burst and is the control for the machine drifting meanwhile.
 */
async function wsBurst(targets, ca) {
  const result = { before: {}, after: {}, burst: {} };
  await interleave(targets, 'keepalive', ca, result.before, 'ws-burst before');
  for (const t of targets) {
    const c0 = cpuMicros(t.pid);
    const held = await idleSockets(t.port, { count: IDLE, ca });
    const rssMb = rssKb(t.pid) / 1024;
    await sleep(HOLD * 1000);
    await held.close();
    result.burst[t.name] = { open: held.open, errors: held.errors, rssMbHeld: rssMb, cpuMs: (cpuMicros(t.pid) - c0) / 1000 };
    process.stderr.write(`  ws-burst ${t.name}: ${held.open} idle wss open (${held.errors} errors), RSS ${rssMb.toFixed(0)} MB, held ${HOLD}s, closed\n`);
  }
  await sleep(1000);
  await interleave(targets, 'keepalive', ca, result.after, 'ws-burst after');
  for (const t of targets) result.burst[t.name].rssMbAfter = rssKb(t.pid) / 1024;
  return result;
}

/** The target list: nginx as given, Gatehouse once per build (work, ref) and per Node binary. */
function specs(refDir) {
  const builds = refDir === undefined ? [{ label: '', dir: undefined }] : [{ label: 'ref', dir: refDir }, { label: 'work', dir: undefined }];
  const nodes = NODES.map((bin) => ({ bin, version: nodeVersion(bin) }));
  const list = [];
  for (const only of ONLY) {
    // gatehouse-1/features-here: the same target with another --routes config, side by side.
    const [name, routes = opt('routes', '')] = only.split('/');
    const [kind, workers] = name.split('-');
    if (kind === 'nginx') {
      if (have('nginx')) list.push({ name, kind, workers, cache: SCENARIOS.includes('cache-hit') });
      else process.stderr.write('nginx not installed: skipped (apt-get install nginx)\n');
      continue;
    }
    if (PEERS.includes(kind)) {
      const missing = missingPeer(kind);
      if (missing === undefined) list.push({ name, kind, workers, node: NODES[0], nodeArgs: NODE_ARGS, log: opt('log', 'info') });
      else process.stderr.write(`${missing}\n`);
      continue;
    }
    if (kind in FLOOR_MODES) {
      list.push({ name, kind, workers: '1', node: NODES[0], nodeArgs: NODE_ARGS });
      continue;
    }
    for (const b of builds) {
      for (const n of nodes) {
        const label = `${only}${b.label ? `:${b.label}` : ''}${nodes.length > 1 ? `@${n.version}` : ''}`;
        // gatehouse-1/log-warn: the same build without the per-request log line (an ablation).
        const log = routes === 'log-warn' ? 'warn' : opt('log', 'info');
        list.push({ name: label, kind, workers, dir: b.dir, node: n.bin, nodeVersion: n.version, nodeArgs: NODE_ARGS, log, routes: b.label === 'ref' || routes === 'log-warn' ? '' : routes, cache: SCENARIOS.includes('cache-hit') });
      }
    }
  }
  return list;
}

async function main() {
  if (!have('wrk')) throw new Error('wrk is needed: apt-get install wrk');
  mkdirSync(out, { recursive: true });
  // Per --port: two benches at once on one machine must not rewrite each other's certificates.
  const certDir = join(out, 'certs', opt('port', '18500'));
  const ca = makeCa(certDir, { name: 'Gatehouse bench CA' });
  const leaf = makeLeaf(certDir, { ca, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
  const ref = COMPARE === undefined ? undefined : buildRef(COMPARE);
  const backends = [await startBenchBackend(), await startBenchBackend()];
  const upstreams = backends.map((b) => `127.0.0.1:${b.address().port}`);
  const children = [];
  const cleanup = () => {
    // nginx's master stops its workers on TERM; killed outright it would leave them listening.
    for (const c of children) if (c.exitCode === null) c.kill(c.spawnargs.includes('nginx') ? 'SIGTERM' : 'SIGKILL');
    for (const b of backends) b.close();
    ref?.cleanup();
  };
  // Interrupted (Ctrl-C, or `timeout` sending TERM): the proxies must not outlive the bench.
  for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]]) process.on(signal, () => { cleanup(); process.exit(code); });
  const results = {
    date: new Date().toISOString(),
    machine: { cores, benchNode: process.version, nginx: have('nginx') ? spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim() : null },
    settings: { count: COUNT ?? null, duration: DURATION, runs: RUNS, warmup: WARMUP, connections: CONNECTIONS, idle: IDLE, hold: HOLD, compare: COMPARE ? `${COMPARE} (${ref.commit})` : null },
    targets: [], scenarios: {}, notes: [],
  };
  const targets = [];
  try {
    // --port: the first of the ports the targets take (two each); two benches on one machine need different ones.
    let port = Number(opt('port', '18500'));
    for (const spec of specs(ref?.dir)) {
      port += 2;
      targets.push(await startTarget(spec, { port, h2Port: port + 1, leaf, backends: upstreams, children }));
    }
    results.targets = targets.map((t) => ({ name: t.name, kind: t.kind, workers: t.workers, node: t.nodeVersion ?? null, h2: t.h2 }));
    // Not counted: the same warm-up for every target (Node's JIT, nginx's caches), so the first
    // measured round is steady state like the others.
    if (WARMUP > 0) for (const t of targets.filter((x) => !FLOOR_MODES[x.kind]?.startsWith('h2-'))) await wrk(t.port, { connections: CONNECTIONS, seconds: WARMUP });
    for (const scenario of SCENARIOS) {
      if (scenario === 'idle') {
        results.scenarios.idle = {};
        for (const t of targets) {
          results.scenarios.idle[t.name] = await idleMemory(t, ca.cert);
          process.stderr.write(`  idle ${t.name}: ${JSON.stringify(results.scenarios.idle[t.name])}\n`);
        }
        continue;
      }
      if (scenario === 'ws-burst') {
        results.scenarios['ws-burst'] = await wsBurst(targets, ca.cert);
        continue;
      }
      // The h2 floors speak only h2: an HTTP/1.1 scenario skips them as an h2 one skips h1-only targets.
      const h2Only = (t) => FLOOR_MODES[t.kind]?.startsWith('h2-') ?? false;
      const eligible = targets.filter((t) => (LOADS[scenario].h2 ? t.h2 : !h2Only(t)));
      for (const t of targets.filter((x) => !eligible.includes(x))) {
        const why = LOADS[scenario].h2 ? 'its ALPN does not offer h2' : 'it speaks only h2';
        results.notes.push(`${scenario}: ${t.name} skipped, ${why}`);
        process.stderr.write(`  ${scenario}: ${t.name} skipped (${why})\n`);
      }
      results.scenarios[scenario] = {};
      await interleave(eligible, scenario, ca.cert, results.scenarios[scenario]);
    }
    for (const t of targets) t.rssMb = rssKb(t.pid) / 1024;
    results.rssMb = Object.fromEntries(targets.map((t) => [t.name, t.rssMb]));
    for (const t of targets) await t.stop();
  } finally {
    cleanup();
  }
  const file = join(out, `results-${results.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, (k, v) => (k === 'raw' ? undefined : v), 2));
  console.log(report(results, LOADS));
  console.log(`\nfull results: ${file}`);
}

await main();
