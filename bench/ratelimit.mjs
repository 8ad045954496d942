#!/usr/bin/env node
// Rate-limit accuracy (issue 23): Gatehouse with `workers: 2` and a limit (default 100/s, burst
// 50), offered load (default 5,000 req/s) from 20 loopback client addresses for 10 s; then the
// same against two instances sharing one Redis (when redis-server is installed), each address's
// requests alternating between them. The load is bench/ratelimit-load.mjs in its own process:
// pipelined HTTP/1.1 keep-alive over TLS, `--connections` sockets per address and instance (with
// workers, the report says how many addresses landed on every worker). Per address: requests
// served ÷ what the budget allows from its first request to its last (burst + 1 + rate × seconds).
// Bounded in count and time; prints JSON (ROWS=1: every address's row too).
//   npm run build && node bench/ratelimit.mjs [--rate 100] [--burst 50] [--offered 5000] [--addresses 20] [--seconds 10]
//        [--connections 2] [--in-flight 128] [--workers 2] [--only workers|redis] [--node-args "…"]
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:http2';
import { createServer } from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { startBenchBackend } from './backend.mjs';
import { cpuNanos, have, here, jsonLines, options, root, sleep } from './lib.mjs';

const { opt } = options(process.argv.slice(2));
const RATE = Number(opt('rate', '100'));
const BURST = Number(opt('burst', '50'));
const OFFERED = Math.min(50_000, Number(opt('offered', '5000')));
const ADDRESSES = Math.min(200, Number(opt('addresses', '20')));
const SECONDS = Math.min(120, Number(opt('seconds', '10')));
/** Sockets per address and instance: 2, so with workers an address can have clients on both. */
const CONNECTIONS = Math.min(16, Number(opt('connections', '2')));
/** Unanswered requests one socket may hold: beyond it, a tick's share is not sent (counted as unsent). */
/** Workers of the first setup (the issue's: 2). */
const WORKERS = Number(opt('workers', '2'));
/** Node options for every Gatehouse process (`--node-args "--cpu-prof --cpu-prof-dir=DIR"`). */
const NODE_ARGS = opt('node-args', '', true).split(' ').filter(Boolean);
/** `--nginx`: also run the load against nginx's limit_req with the same budget (a reference). */
const NGINX = process.argv.includes('--nginx');
/** `workers` or `redis` (or `none`, with --nginx): run one setup only. */
const ONLY = opt('only', 'both');
const IN_FLIGHT = Math.min(1024, Number(opt('in-flight', '128')));

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ratelimit-'));
const children = [];
process.on('exit', () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

async function freePort() {
  const s = createServer();
  await new Promise((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address();
  await new Promise((r) => s.close(r));
  return port;
}

function start(cmd, args, ready, what) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let text = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 60 s:\n${text}`)), 60_000);
    const seen = (d) => {
      text += d;
      if (ready(text)) { clearTimeout(timer); resolve(child); }
    };
    child.stdout.on('data', seen);
    child.stderr.on('data', seen);
    child.once('exit', () => reject(new Error(`${what} exited:\n${text}`)));
  });
}

const admins = [];

async function gatehouse(name, backendPort, workers, store) {
  const port = await freePort();
  const admin = await freePort();
  admins.push(admin);
  const file = join(dir, `${name}.yaml`);
  writeFileSync(file, `
listen: { http: false, https: "127.0.0.1:${port}", admin: "127.0.0.1:${admin}" }
tls: { certificates: [{ cert: "${join(dir, 'localhost-fullchain.pem')}", key: "${join(dir, 'localhost-key.pem')}" }] }
upstreams: { app: { targets: ["127.0.0.1:${backendPort}"] } }
rateLimits:
  bench: { rate: ${RATE}/s, burst: ${BURST} }
${store === undefined ? '' : `  store: ${store}`}
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app, rateLimit: bench }] }]
workers: ${workers}
log: { level: error }
`);
  // Logs at error only (the figure is the limit's accuracy, not logging's cost): ready when TLS answers.
  const child = spawn(process.execPath, [...NODE_ARGS, join(root, 'dist', 'cli.js'), '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  for (let i = 0; i < 400; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect(`https://127.0.0.1:${port}`, { ca, servername: 'localhost' });
      s.on('error', () => resolve(false));
      s.on('connect', () => { s.close(); resolve(true); });
    });
    if (ok) break;
    await sleep(100);
  }
  await sleep(500 * workers); // every worker listening, not just the first
  return { port, pid: child.pid, child };
}

let ca;

/** The admin listener's /metrics text ('' when it does not answer within 5 s). */
function scrape(port) {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: 5000 }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve(text));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(''));
  });
}

/** Which process holds each loopback TCP socket: inode → pid, from /proc/PID/fd of `pids`. */
function socketOwners(pids) {
  const owners = new Map();
  for (const pid of pids) {
    let fds = [];
    try { fds = readdirSync(`/proc/${pid}/fd`); } catch { /* gone */ }
    for (const fd of fds) {
      try {
        const m = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`));
        if (m) owners.set(m[1], pid);
      } catch { /* closed meanwhile */ }
    }
  }
  return owners;
}

/** "0A00007F:C350" (/proc/net/tcp, little-endian IPv4) → "127.0.0.10:50000". */
function procAddress(hex) {
  const [ip, port] = hex.split(':');
  const bytes = [6, 4, 2, 0].map((i) => parseInt(ip.slice(i, i + 2), 16));
  return `${bytes.join('.')}:${parseInt(port, 16)}`;
}

/** Per client address, how many of the edge's worker processes accepted one of its sockets. */
function spreadOverWorkers(primaryPid, sockets) {
  const workers = childPids(primaryPid);
  const owners = socketOwners(workers);
  const byPeer = new Map();
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10) continue;
    const pid = owners.get(f[9]);
    if (pid !== undefined) byPeer.set(procAddress(f[2]), pid);
  }
  const perAddress = new Map();
  for (const s of sockets) {
    const pid = byPeer.get(`${s.address}:${s.localPort}`);
    if (!perAddress.has(s.address)) perAddress.set(s.address, new Set());
    if (pid !== undefined) perAddress.get(s.address).add(pid);
  }
  const narrow = [...perAddress].filter(([, set]) => set.size < workers.length).map(([address]) => address);
  return { workers: workers.length, addressesOnEveryWorker: perAddress.size - narrow.length, narrow };
}

/** Direct children of `pid` (the cluster's workers). */
function childPids(pid) {
  const out = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch { /* gone */ }
  }
  return out;
}

const r3 = (x) => Math.round(x * 1000) / 1000;

/** Runs bench/ratelimit-load.mjs against `edges` ([{ port, pid }]) and reads it, bounded. */
async function offer(edges, cluster = true) {
  const child = spawn(process.execPath, [join(here, 'ratelimit-load.mjs'), `--ports=${edges.map((e) => e.port).join(',')}`,
    `--addresses=${ADDRESSES}`, `--offered=${OFFERED}`, `--seconds=${SECONDS}`, `--connections=${CONNECTIONS}`, `--in-flight=${IN_FLIGHT}`,
    `--ca=${join(dir, 'ca.pem')}`], { stdio: ['pipe', 'pipe', 'inherit'] });
  children.push(child);
  const guard = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 60) * 1000);
  const next = jsonLines(child);
  let ready = await next();
  if (ready?.ready !== true) throw new Error('the load generator could not open its connections');
  // With workers, every address must have clients on every worker (the issue: "clients spread over
  // workers"); they accept on their own, so an address whose sockets all landed on one worker gets
  // another socket, up to 20 rounds; the report says how many addresses ended up spread.
  let spread;
  for (let round = 0; cluster && edges.length === 1; round++) {
    spread = spreadOverWorkers(edges[0].pid, ready.sockets);
    if (spread.narrow.length === 0 || spread.workers < 2 || round === 20) break;
    child.stdin.write(`${JSON.stringify({ more: spread.narrow })}\n`);
    ready = await next();
    if (ready?.ready !== true) throw new Error('the load generator could not open more connections');
  }
  if (spread !== undefined) spread = { ...spread, narrow: undefined, sockets: ready.sockets.length };
  const loadBefore = loadavg()[0];
  const edgeCpu = () => edges.reduce((n, e) => n + cpuNanos(e.pid), 0);
  const cpuBefore = edgeCpu();
  child.stdin.write('go\n');
  const result = await next();
  const edgeCpuSeconds = (edgeCpu() - cpuBefore) / 1e9;
  clearTimeout(guard);
  if (result === undefined) throw new Error('the load generator ended without a result');
  // Decisions by outcome, from every instance's admin listener (store_error: served without one).
  const outcomes = {};
  for (const admin of admins.splice(0)) {
    const text = await scrape(admin);
    for (const m of text.matchAll(/^gatehouse_ratelimit_total\{[^}]*outcome="([a-z_]+)"[^}]*\} (\d+)/gm)) outcomes[m[1]] = (outcomes[m[1]] ?? 0) + Number(m[2]);
  }
  // Allowed per address: the burst at once, then the rate over ITS time from first to last request.
  // ratioByAnswers: against the longest window the edge can have seen (first request to last
  // answer); far below `ratio` only when answers lagged far behind the schedule.
  const rows = result.rows.map((r) => {
    const allowed = BURST + 1 + RATE * r.seconds;
    return { ...r, allowed: Math.round(allowed * 10) / 10, ratio: r.served / allowed, ratioByAnswers: r.served / (BURST + 1 + RATE * r.answerSeconds) };
  });
  const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
  const byAnswers = rows.map((r) => r.ratioByAnswers).sort((a, b) => a - b);
  const sum = (k) => rows.reduce((n, r) => n + r[k], 0);
  return {
    offeredPerSecond: Math.round(sum('sent') / result.sendSeconds), sent: sum('sent'), unsent: sum('unsent'), lost: sum('lost'),
    errors: sum('other'), unframed: sum('unframed'), served: sum('served'), limited: sum('limited'), allowed: Math.round(sum('allowed')),
    ratioMin: r3(ratios[0]), ratioMedian: r3(ratios[Math.floor(ratios.length / 2)]), ratioMax: r3(ratios[ratios.length - 1]),
    ratioByAnswers: [byAnswers[0], byAnswers[Math.floor(byAnswers.length / 2)], byAnswers[byAnswers.length - 1]].map(r3), latencyMs: result.latencyMs,
    outcomes, spread, perPort: edges.length > 1 ? result.perPort : undefined, lateTicks: result.lateTicks, ticks: result.ticks,
    cpuSeconds: { edges: Math.round(edgeCpuSeconds * 100) / 100, generator: Math.round(result.cpuSeconds * 100) / 100 }, load: [loadBefore, loadavg()[0]], rows,
  };
}

const leafCa = makeCa(dir, { name: 'Gatehouse bench CA' });
makeLeaf(dir, { ca: leafCa, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
ca = readFileSync(join(dir, 'ca.pem'));
const backend = await startBenchBackend();
const backendPort = backend.address().port;
const report = { rate: RATE, burst: BURST, offered: OFFERED, addresses: ADDRESSES, seconds: SECONDS, connections: CONNECTIONS, inFlight: IN_FLIGHT, workers: WORKERS, node: process.version };

/** Ends the edges of a setup (by their PIDs) before the next one starts: an idle edge still costs a little. */
async function stop(edges) {
  await Promise.all(edges.map(({ child }) => new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const hard = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', () => { clearTimeout(hard); resolve(); });
    child.kill('SIGTERM');
  })));
}

if (ONLY !== 'redis' && ONLY !== 'none') {
  const edges = [await gatehouse('workers', backendPort, WORKERS)];
  report.workers2 = await offer(edges);
  await stop(edges);
}
if (ONLY === 'workers' || ONLY === 'none') report.redisPair = `skipped: --only ${ONLY}`;
else if (have('redis-server')) {
  const redisPort = await freePort();
  await start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], (t) => t.includes('Ready to accept'), 'redis-server');
  const store = `redis://127.0.0.1:${redisPort}`;
  const edges = [await gatehouse('a', backendPort, 1, store), await gatehouse('b', backendPort, 1, store)];
  report.redisPair = await offer(edges);
  await stop(edges);
} else {
  report.redisPair = 'skipped: redis-server not installed';
}
if (NGINX && have('nginx')) {
  // The same budget in nginx's limit_req (nodelay: the burst is served at once, as GCRA serves it),
  // the same load: a reference for the load and for what "within 5 %" means on this box.
  const port = await freePort();
  mkdirSync(join(dir, 'nginx', 'logs'), { recursive: true });
  const conf = join(dir, 'nginx', 'nginx.conf');
  writeFileSync(conf, `
worker_processes 1;
pid ${join(dir, 'nginx', 'nginx.pid')};
error_log ${join(dir, 'nginx', 'logs', 'error.log')} error;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path ${join(dir, 'nginx')};
  proxy_temp_path ${join(dir, 'nginx')};
  limit_req_zone $binary_remote_addr zone=bench:10m rate=${RATE}r/s;
  upstream app { server 127.0.0.1:${backendPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} ssl;
    ssl_certificate ${join(dir, 'localhost-fullchain.pem')};
    ssl_certificate_key ${join(dir, 'localhost-key.pem')};
    location / {
      limit_req zone=bench burst=${BURST} nodelay;
      limit_req_status 429;
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
    }
  }
}
`);
  const child = spawn('nginx', ['-c', conf, '-g', 'daemon off;'], { stdio: ['ignore', 'inherit', 'inherit'] });
  children.push(child);
  await sleep(1000);
  report.nginx = await offer([{ port, pid: child.pid, child }], false);
  await stop([{ child }]);
}
backend.close();
const brief = (r) => (typeof r === 'string' || process.env.ROWS === '1' ? r : { ...r, rows: undefined });
console.log(JSON.stringify({ ...report, workers2: brief(report.workers2), redisPair: brief(report.redisPair), nginx: brief(report.nginx) }, null, 2));
process.exit(0);
