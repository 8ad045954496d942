// `npm run bench -- --url https://your.host/ [--ws wss://your.host/path] [--origin https://your.host]
//   [--connections 50] [--pipelining 1] [--h2] [--workers 1] [--duration 30s] [--rate R | --stages 10s:100,30s:500]
//   [--max-inflight 10000] [--timeout 10s] [--engine autocannon|undici] [--fail-on "p99<200ms,errors<0.1%"] [--ca FILE] [--out DIR]`
// `npm run bench -- --compare A.json B.json`, `npm run bench -- --scenario rotate`.
// Loads any edge over HTTPS (HTTP/1.1 or h2) and WebSocket with autocannon or undici (load/), closed
// or open model, and writes JSON, an SVG chart and a self-contained HTML report. See bench/README.md.
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, renameSync, mkdtempSync } from 'node:fs';
import { get as httpsGet } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { charts } from './load/charts.mjs';
import { htmlReport } from './load/html.mjs';
import { runLoad } from './load/run.mjs';
import { flat, parseStages, totalSeconds } from './load/schedule.mjs';
import { buckets, latencySummary } from './load/stats.mjs';
import { checkThresholds, compareRuns, formatCheck, formatComparison, parseThresholds } from './load/verdict.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1 && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq === undefined ? fallback : eq.slice(name.length + 3);
};
const flag = (name) => argv.includes(`--${name}`);
const seconds = (text) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text));
  if (!m) throw new Error(`bad duration "${text}" (use 30s, 2m, 500ms)`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
};
const usage = (message) => { console.error(message); process.exit(2); };

if (opt('compare') !== undefined) {
  const a = opt('compare');
  const b = argv[argv.indexOf(`--compare`) + 2];
  if (b === undefined || b.startsWith('--')) usage('give two runs: --compare A.json B.json');
  const rows = compareRuns(JSON.parse(readFileSync(a, 'utf8')), JSON.parse(readFileSync(b, 'utf8')), Number(opt('tolerance', '5')) / 100);
  console.log(formatComparison(rows, a, b));
  const worse = rows.filter((r) => r.verdict === 'worse').map((r) => r.label);
  console.log(worse.length === 0 ? '\nverdict: no figure worse' : `\nverdict: worse on ${worse.join(', ')}`);
  process.exit(0);
}

const parseUrl = (text, name) => {
  try {
    return new URL(text);
  } catch {
    return usage(`--${name} "${text}" is not a URL: use e.g. --${name} ${name === 'ws' ? 'wss://app.example.com/realtime' : 'https://app.example.com/'}`);
  }
};
let url = opt('url') === undefined ? undefined : parseUrl(opt('url'), 'url');
let wsUrl = opt('ws') ? parseUrl(opt('ws'), 'ws') : undefined;
let origin = opt('origin');
const H2 = flag('h2');
const CONNECTIONS = Number(opt('connections', H2 ? '10' : '50'));
const PIPELINING = Number(opt('pipelining', H2 ? '10' : '1'));
const WORKERS = Number(opt('workers', '1'));
const RATE = opt('rate') ? Number(opt('rate')) : undefined;
let stages;
try {
  stages = opt('stages') ? parseStages(opt('stages'), seconds) : RATE !== undefined ? flat(RATE, seconds(opt('duration', '30s'))) : undefined;
} catch (err) { usage(err.message); }
const DURATION = stages ? totalSeconds(stages) : seconds(opt('duration', '30s'));
// autocannon is the cheapest client for the closed model over HTTP/1.1; undici does h2 and the open model.
const ENGINE = opt('engine', stages || H2 ? 'undici' : 'autocannon');
if (!['undici', 'autocannon'].includes(ENGINE)) usage('--engine is undici or autocannon');
if (ENGINE === 'autocannon' && (stages || H2)) usage('--engine autocannon runs the closed model over HTTP/1.1 only: drop --rate/--stages/--h2, or use --engine undici');
const MAX_INFLIGHT = Number(opt('max-inflight', '10000'));
const TIMEOUT_MS = seconds(opt('timeout', '10s')) * 1000;
const OUT = opt('out', join(here, 'out'));
const scenario = opt('scenario');
let thresholds = [];
try { thresholds = opt('fail-on') ? parseThresholds(opt('fail-on')) : []; } catch (err) { usage(err.message); }
for (const [name, v] of [['connections', CONNECTIONS], ['pipelining', PIPELINING], ['workers', WORKERS], ['max-inflight', MAX_INFLIGHT]]) {
  if (!Number.isInteger(v) || v < 1) usage(`--${name} must be a whole number ≥ 1`);
}
if (RATE !== undefined && !(RATE > 0)) usage('--rate must be a number of requests per second > 0');
let ca = opt('ca') ? readFileSync(opt('ca')) : undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let rotate;
if (scenario === 'rotate') rotate = await localEdge();
else if (url === undefined) usage('give --url https://your.host/ (or --scenario rotate for the local renewal check, or --compare A.json B.json)');

/** What the server says about itself on one handshake. */
function probeTls() {
  return new Promise((resolve) => {
    const s = connect({ host: url.hostname, port: Number(url.port || 443), servername: url.hostname, ca, ALPNProtocols: H2 ? ['h2', 'http/1.1'] : ['http/1.1'] }, () => {
      const cert = s.getPeerX509Certificate();
      resolve({ version: s.getProtocol(), cipher: s.getCipher()?.name, alpn: s.alpnProtocol || null, serial: cert?.serialNumber, subject: cert?.subject?.replace(/\n/g, ', '), notAfter: cert?.validTo });
      s.end();
    });
    s.on('error', (err) => resolve({ error: err.code ?? err.message }));
  });
}

/** The Strict-Transport-Security header of one GET (when the engine did not report one). */
function probeHsts() {
  return new Promise((resolve) => {
    const req = httpsGet(url, { ca, headers: { 'user-agent': 'gatehouse-bench' } }, (res) => { res.resume(); resolve(res.headers['strict-transport-security'] ?? null); });
    req.setTimeout(TIMEOUT_MS, () => req.destroy());
    req.on('error', () => resolve(null));
  });
}

const wsStats = { open: 0, messages: 0, dropped: 0, failed: 0, connectMs: [], rttMs: [] };
let stopping = false;
/** WebSockets as before: up to 50 sockets ping-ponging every 100 ms; connect time and round trips. */
async function wsClients() {
  if (!wsUrl) return [];
  const { default: WebSocket } = await import('ws');
  return Array.from({ length: Math.min(CONNECTIONS, 50) }, () => {
    const t0 = performance.now();
    let sentAt = 0;
    const ws = new WebSocket(wsUrl, { ca, ...(origin ? { origin } : {}) });
    const ping = () => { sentAt = performance.now(); ws.send('ping'); };
    ws.on('open', () => { wsStats.open++; wsStats.connectMs.push(performance.now() - t0); ping(); });
    ws.on('message', () => {
      wsStats.messages++;
      if (wsStats.rttMs.length < 100_000) wsStats.rttMs.push(performance.now() - sentAt);
      if (!stopping) setTimeout(() => ws.readyState === 1 && ping(), 100);
    });
    ws.on('close', () => { if (!stopping) wsStats.dropped++; });
    ws.on('error', () => { wsStats.failed++; });
    return ws;
  });
}

const tls = await probeTls();
if (tls.error && ENGINE === 'autocannon') usage(`TLS to ${url.host} failed before the run (${tls.error}): the autocannon engine does not verify certificates itself, so the probe must (--ca FILE)`);
const sockets = await wsClients();
if (rotate) setTimeout(() => rotate.renew(), (DURATION * 1000) / 2);
const settings = {
  engine: ENGINE, connections: CONNECTIONS, pipelining: PIPELINING, h2: H2, workers: WORKERS, durationS: DURATION, rate: RATE ?? null,
  stages: opt('stages') ?? null, maxInflight: MAX_INFLIGHT, timeoutMs: TIMEOUT_MS, failOn: opt('fail-on') ?? null,
};
const run = await runLoad({
  engine: ENGINE, url: url.href, ca, servername: url.hostname, connections: CONNECTIONS, pipelining: PIPELINING, h2: H2, workers: WORKERS,
  seconds: DURATION, stages, maxInflight: MAX_INFLIGHT, timeoutMs: TIMEOUT_MS,
  onSecond: (i, w) => process.stderr.write(`\r${String(i + 1).padStart(4)}s  ${String(w.all.totalCount).padStart(7)} answers/s  sent ${w.sent}  errors ${Object.values(Object.fromEntries(w.errors)).reduce((a, b) => a + b, 0)}  ws open ${wsStats.open - wsStats.dropped}/${sockets.length}   `),
});
stopping = true;
const tlsAfter = await probeTls();
for (const s of sockets) s.close();
process.stderr.write('\n');

const count = (w) => Object.fromEntries([...w.errors, ...['4xx', '5xx'].filter((c) => w.classes.has(c)).map((c) => [`http ${c}`, w.classes.get(c).totalCount])]);
const errors = count(run.total);
const errorCount = Object.values(errors).reduce((a, b) => a + b, 0);
const answers = run.total.all.totalCount;
const attempts = answers + [...run.total.errors.values()].reduce((a, b) => a + b, 0);
const pct = (xs, p) => { const v = [...xs].sort((a, b) => a - b); return v.length === 0 ? null : Math.round(v[Math.min(v.length - 1, Math.floor(p * v.length))] * 1000) / 1000; };
const busy = Math.round(Math.max(...run.generator.eventLoopBusy) * 100);
// A loop busy ≥ 90% could not send faster. With little CPU behind it, it was waiting for a core.
const starved = run.generator.cpuPercentOfOneCore < 50 * run.generator.workers;
const limit = run.generator.clientLimited
  ? `The client was the limit: a load thread's event loop was busy ${busy}% of the run, so these figures are the generator's, not the server's. ${starved
    ? `Its process got only ${run.generator.cpuPercentOfOneCore}% of one core: the machine running it is short of CPU (other processes); load from a quieter machine.`
    : `Its process used ${run.generator.cpuPercentOfOneCore}% of one core: add --workers, --pipelining (or --h2 streams), or load from another machine.`}`
  : run.shortfall > 0
    ? `The server was the limit: ${run.shortfall} of ${run.planned} requests due were never sent (--max-inflight ${MAX_INFLIGHT} outstanding), and latency counts their wait from the intended send time.`
    : `The client was not the limit (event loop busy ${run.generator.eventLoopBusy.map((e) => `${Math.round(e * 100)}%`).join(', ')}).`;
const summary = {
  url: url.href, ws: wsUrl?.href ?? null, model: stages ? 'open' : 'closed', settings,
  connections: CONNECTIONS, durationS: Math.round(run.elapsedS * 10) / 10, rate: RATE ?? null,
  requests: answers, reqPerS: Math.round(answers / run.elapsedS), sent: run.sent, planned: run.planned, shortfall: run.shortfall, unfinished: run.unfinished,
  latencyMs: latencySummary(run.total.all),
  byClass: Object.fromEntries([...run.total.classes].sort().map(([c, h]) => [c, latencySummary(h)])),
  errors, errorRate: attempts === 0 ? 1 : errorCount / attempts,
  generator: run.generator, limit,
  tls, hsts: run.hsts ?? (await probeHsts()),
  websockets: wsUrl ? { opened: wsStats.open, failedToOpen: wsStats.failed, dropped: wsStats.dropped, messages: wsStats.messages, connectMsP50: pct(wsStats.connectMs, 0.5), connectMsP99: pct(wsStats.connectMs, 0.99), rttMsP50: pct(wsStats.rttMs, 0.5), rttMsP99: pct(wsStats.rttMs, 0.99) } : null,
  histogram: buckets(run.total.all),
  timeline: run.seconds.map((w, i) => ({ s: i + 1, rps: w.all.totalCount, sent: w.sent, ...Object.fromEntries(['p50', 'p90', 'p99', 'max'].map((k) => [k, latencySummary(w.all)[k]])), errors: count(w) })),
  ...(rotate ? { rotation: { before: tls.serial, after: tlsAfter.serial, swapped: tls.serial !== tlsAfter.serial } } : {}),
};
mkdirSync(OUT, { recursive: true });
const base = join(OUT, `user-${new Date().toISOString().replace(/[:.]/g, '-')}`);
writeFileSync(`${base}.json`, JSON.stringify(summary, null, 2));
const c = charts();
writeFileSync(`${base}.svg`, `${c.percentiles(summary)}\n`);
writeFileSync(`${base}.html`, htmlReport(summary));
// The histogram and timeline are for the report; the terminal gets the figures.
console.log(JSON.stringify({ ...summary, histogram: undefined, timeline: undefined }, null, 2));
console.error(`\n${limit}`);
console.log(`\nwrote ${base}.json, .svg and .html`);
if (rotate) {
  await rotate.stop();
  const dropped = errorCount + (summary.websockets?.dropped ?? 0);
  console.log(`rotation: certificate ${summary.rotation.swapped ? 'swapped' : 'NOT swapped'}, ${dropped} dropped requests/WebSockets`);
  process.exitCode = summary.rotation.swapped && dropped === 0 ? 0 : 1;
}
if (thresholds.length > 0) {
  const checks = checkThresholds(summary, thresholds);
  for (const line of checks) console.log(formatCheck(line));
  const failed = checks.filter((x) => !x.ok);
  if (failed.length > 0) {
    console.error(`threshold failed: ${failed.map((x) => x.text).join(', ')}`);
    process.exitCode = 1;
  }
}

/** --scenario rotate: a local Gatehouse on a throwaway certificate, renewed mid-run by rename. */
async function localEdge() {
  const { makeCa, makeLeaf } = await import('../scripts/certs.mjs');
  const { startBenchBackend } = await import('./backend.mjs');
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-rotate-'));
  const caPair = makeCa(dir, { name: 'rotate test CA' });
  const first = makeLeaf(dir, { ca: caPair, basename: 'first', sans: ['localhost', '127.0.0.1'] });
  const second = makeLeaf(dir, { ca: caPair, basename: 'second', sans: ['localhost', '127.0.0.1'] });
  mkdirSync(join(dir, 'live'));
  copyFileSync(first.fullchain, join(dir, 'live', 'fullchain.pem'));
  copyFileSync(first.key, join(dir, 'live', 'privkey.pem'));
  const backend = await startBenchBackend();
  const port = 18_700 + Math.floor(Math.random() * 200);
  const cfg = join(dir, 'gatehouse.yaml');
  writeFileSync(cfg, `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${join(dir, 'live', 'fullchain.pem')}", key: "${join(dir, 'live', 'privkey.pem')}" }] }
upstreams: { app: { targets: ["127.0.0.1:${backend.address().port}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app, websocket: { origins: ["https://localhost:${port}"] } }] }]
log: { level: warn }
`);
  const child = spawn(process.execPath, [join(here, '..', 'dist', 'cli.js'), '--config', cfg], { stdio: ['ignore', 'inherit', 'inherit'] });
  url = new URL(`https://localhost:${port}/`);
  wsUrl = new URL(`wss://localhost:${port}/`);
  origin = `https://localhost:${port}`;
  ca = readFileSync(caPair.cert);
  for (let i = 0; i < 100; i++) {
    if ((await probeTls()).version) break;
    await sleep(100);
  }
  return {
    renew() {
      copyFileSync(second.key, join(dir, 'live', '.privkey.tmp'));
      copyFileSync(second.fullchain, join(dir, 'live', '.fullchain.tmp'));
      renameSync(join(dir, 'live', '.privkey.tmp'), join(dir, 'live', 'privkey.pem'));
      renameSync(join(dir, 'live', '.fullchain.tmp'), join(dir, 'live', 'fullchain.pem'));
      process.stderr.write('\n[rotate] certificate renewed on disk\n');
    },
    async stop() {
      child.kill('SIGTERM');
      await new Promise((r) => child.on('exit', r));
      backend.close();
    },
  };
}
