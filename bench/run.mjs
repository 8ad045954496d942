#!/usr/bin/env node
// `npm run bench`: Gatehouse (workers 1 and auto) and — when installed — nginx (1 worker and
// auto) in front of the same loopback backends, loaded by the same tools for the same bounded
// time, medians of repeated runs, with the proxy's own CPU time per operation from /proc.
// `npm run bench -- --url https://host/ ...` loads any edge instead (see bench/README.md).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { startBenchBackend } from './backend.mjs';
import { writeNginxConfig } from './nginx.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const out = join(here, 'out');

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1 && argv[i + 1] !== undefined) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq === undefined ? fallback : eq.slice(name.length + 3);
};
const flag = (name) => argv.includes(`--${name}`);

if (opt('url') !== undefined || opt('scenario') === 'rotate') {
  await import('./user.mjs');
  process.exit(process.exitCode ?? 0);
}

const DURATION = parseSeconds(opt('duration', '10s'));
const RUNS = Number(opt('runs', '3'));
const WARMUP = parseSeconds(opt('warmup', '3s'));
const CONNECTIONS = Number(opt('connections', '50'));
const IDLE = Number(opt('idle', '2000'));
const ONLY = opt('only', 'gatehouse-1,gatehouse-auto,nginx-1,nginx-auto').split(',');
const SCENARIOS = opt('scenarios', 'keepalive,handshake,websocket,idle').split(',');
// Extra Node flags for Gatehouse, e.g. --node-args "--cpu-prof --cpu-prof-dir=bench/out/prof".
const NODE_ARGS = opt('node-args', '').split(' ').filter(Boolean);
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;
const cores = availableParallelism();

function parseSeconds(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
}
const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
const pinned = (core, cmd, args) => (have('taskset') && cores > 1 ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]; };

/** Every process in the tree under `pid` (cluster workers, nginx workers). */
function tree(pid) {
  const children = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (!children.has(ppid)) children.set(ppid, []);
      children.get(ppid).push(Number(entry));
    } catch { /* gone */ }
  }
  const all = [pid];
  for (let i = 0; i < all.length; i++) all.push(...(children.get(all[i]) ?? []));
  return all;
}
/** utime+stime of a process tree, in microseconds. */
function cpuMicros(pid) {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return (ticks * 1e6) / CLK_TCK;
}
function rssKb(pid) {
  let kb = 0;
  for (const p of tree(pid)) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kb;
}

async function waitTls(port) {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await sleep(50);
  }
  throw new Error(`nothing answers TLS on ${port}`);
}

/** wrk, asynchronously: the backends live in this process and must keep answering. */
async function wrk(port, extra = [], seconds = DURATION) {
  const [cmd, args] = pinned(cores - 1, 'wrk', ['-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', 'Host: localhost', ...extra, `https://127.0.0.1:${port}/`]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearTimeout(guard);
  const num = (re) => Number(re.exec(text)?.[1] ?? NaN);
  const ms = (re) => {
    const m = re.exec(text);
    if (!m) return NaN;
    return Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2]] ?? 1);
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    requests: num(/(\d+) requests in/),
    rps: num(/Requests\/sec:\s+([\d.]+)/),
    p50Ms: ms(/50%\s+([\d.]+)(us|ms|s)/),
    p99Ms: ms(/99%\s+([\d.]+)(us|ms|s)/),
    errors: (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0)),
    raw: text,
  };
}

function node(script, args, core) {
  const [cmd, a] = pinned(core, process.execPath, [join(here, script), ...args]);
  return spawn(cmd, a, { stdio: ['pipe', 'pipe', 'inherit'] });
}

async function wsRelay(port, ca) {
  const child = node('ws-load.mjs', [`--url=wss://127.0.0.1:${port}/`, `--connections=${CONNECTIONS}`, '--size=1024', `--seconds=${DURATION}`, `--ca=${ca}`, '--origin=https://localhost'], cores - 1);
  child.stdin.end();
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  await new Promise((r) => child.on('exit', r));
  return JSON.parse(text.trim().split('\n').pop() || '{}');
}

async function idleMemory(pid, port, ca) {
  const before = rssKb(pid);
  const child = node('ws-load.mjs', [`--url=wss://127.0.0.1:${port}/`, `--connections=${IDLE}`, '--mode=idle', `--ca=${ca}`, '--origin=https://localhost'], cores - 1);
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  for (let i = 0; i < 1200 && !text.includes('open'); i++) await sleep(50);
  await sleep(1000);
  const after = rssKb(pid);
  const opened = JSON.parse(text.trim() || '{"open":0}').open;
  child.stdin.end();
  await new Promise((r) => child.on('exit', r));
  return { open: opened, kbPerConnection: opened > 0 ? (after - before) / opened : NaN, rssMb: after / 1024 };
}

async function measure(name, pid, port, ca) {
  const results = {};
  const cpuOf = async (fn, count) => {
    const c0 = cpuMicros(pid);
    const r = await fn();
    return { ...r, cpuUsPerOp: (cpuMicros(pid) - c0) / Math.max(1, count(r)) };
  };
  // Not counted: the same warm-up for every proxy (Node's JIT, nginx's caches), so the first
  // measured run is steady state like the others.
  if (WARMUP > 0) await wrk(port, [], WARMUP);
  for (const scenario of SCENARIOS) {
    const runs = [];
    for (let i = 0; i < (scenario === 'idle' ? 1 : RUNS); i++) {
      if (scenario === 'keepalive') runs.push(await cpuOf(() => wrk(port), (r) => r.requests));
      if (scenario === 'handshake') runs.push(await cpuOf(() => wrk(port, ['-H', 'Connection: close']), (r) => r.requests));
      if (scenario === 'websocket') runs.push(await cpuOf(() => wsRelay(port, ca), (r) => r.messages));
      if (scenario === 'idle') runs.push(await idleMemory(pid, port, ca));
      process.stderr.write(`  ${name} ${scenario} run ${i + 1}: ${JSON.stringify(summary(runs.at(-1)))}\n`);
      if (flag('verbose') && runs.at(-1).raw) process.stderr.write(runs.at(-1).raw);
    }
    results[scenario] = runs;
  }
  results.rssMb = rssKb(pid) / 1024;
  return results;
}
const summary = (r) => Object.fromEntries(Object.entries(r).filter(([k]) => k !== 'raw').map(([k, v]) => [k, typeof v === 'number' ? Math.round(v * 100) / 100 : v]));

async function main() {
  if (!have('wrk')) throw new Error('wrk is needed: apt-get install wrk');
  mkdirSync(out, { recursive: true });
  const certDir = join(out, 'certs');
  const ca = makeCa(certDir, { name: 'Gatehouse bench CA' });
  const leaf = makeLeaf(certDir, { ca, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
  const backends = [await startBenchBackend(), await startBenchBackend()];
  const targets = backends.map((b) => `127.0.0.1:${b.address().port}`);
  const children = [];
  const cleanup = () => { for (const c of children) if (c.exitCode === null) c.kill('SIGKILL'); for (const b of backends) b.close(); };
  process.on('SIGINT', () => { cleanup(); process.exit(130); });
  const results = { machine: { cores, node: process.version, nginx: have('nginx') ? spawnSync('nginx', ['-v'], { encoding: 'utf8' }).stderr.trim() : null, wrk: spawnSync('wrk', ['-v'], { encoding: 'utf8' }).stdout.split('\n')[0] }, settings: { duration: DURATION, runs: RUNS, warmup: WARMUP, connections: CONNECTIONS, idle: IDLE }, proxies: {} };
  let port = 18_500;
  try {
    for (const name of ONLY) {
      const [kind, workers] = name.split('-');
      if (kind === 'nginx' && !have('nginx')) { process.stderr.write('nginx not installed: skipped (apt-get install nginx)\n'); continue; }
      port++;
      let child;
      if (kind === 'gatehouse') {
        // Config and log in separate folders: Gatehouse watches its config's folder, and a log
        // growing there would wake the watcher on every line.
        mkdirSync(join(out, 'gatehouse'), { recursive: true });
        mkdirSync(join(out, 'logs'), { recursive: true });
        const cfg = join(out, 'gatehouse', `gatehouse-${workers}.yaml`);
        writeFileSync(cfg, `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${leaf.fullchain}", key: "${leaf.key}" }] }
upstreams: { app: { targets: [${targets.map((x) => `"${x}"`).join(', ')}] } }
sites: [{ hosts: [localhost, 127.0.0.1], routes: [{ path: /, upstream: app }] }]
workers: ${workers === 'auto' ? 'auto' : 1}
log: { level: ${opt('log', 'info')} }
`);
        const logFd = openSync(join(out, 'logs', `gatehouse-${workers}.log`), 'w');
        const cli = [...NODE_ARGS, join(root, 'dist', 'cli.js'), '--config', cfg];
        const [cmd, args] = workers === 'auto' ? [process.execPath, cli] : pinned(0, process.execPath, cli);
        child = spawn(cmd, args, { stdio: ['ignore', logFd, logFd] });
      } else {
        const conf = writeNginxConfig({ dir: out, port, cert: leaf.fullchain, key: leaf.key, backends: targets, workers: workers === 'auto' ? 'auto' : 1 });
        const [cmd, args] = workers === 'auto' ? ['nginx', ['-c', conf, '-p', out, '-g', 'daemon off;']] : pinned(0, 'nginx', ['-c', conf, '-p', out, '-g', 'daemon off;']);
        child = spawn(cmd, args, { stdio: 'ignore' });
      }
      children.push(child);
      await waitTls(port);
      await sleep(500);
      process.stderr.write(`${name} (pid ${child.pid}) on 127.0.0.1:${port}\n`);
      results.proxies[name] = await measure(name, child.pid, port, ca.cert);
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.on('exit', r)), sleep(15_000)]);
    }
  } finally {
    cleanup();
  }
  const file = join(out, `results-${new Date().toISOString().replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, JSON.stringify(results, (k, v) => (k === 'raw' ? undefined : v), 2));
  console.log(table(results));
  console.log(`\nfull results: ${file}`);
}

function table(results) {
  const rows = [];
  const med = (runs, key) => median((runs ?? []).map((r) => r[key]));
  const fmt = (v, d = 0) => (Number.isFinite(v) ? v.toFixed(d) : '-');
  const metrics = [
    ['keep-alive req/s', 'keepalive', 'rps', 0, true],
    ['  p50 ms', 'keepalive', 'p50Ms', 2, false],
    ['  p99 ms', 'keepalive', 'p99Ms', 2, false],
    ['  proxy CPU µs/req', 'keepalive', 'cpuUsPerOp', 1, false],
    ['new TLS conn/s', 'handshake', 'rps', 0, true],
    ['  proxy CPU µs/handshake', 'handshake', 'cpuUsPerOp', 0, false],
    ['WebSocket msg/s', 'websocket', 'messages', 0, true],
    ['  p99 ms', 'websocket', 'p99Ms', 2, false],
    ['  proxy CPU µs/msg', 'websocket', 'cpuUsPerOp', 1, false],
    ['idle wss KB/conn', 'idle', 'kbPerConnection', 1, false],
  ];
  const names = Object.keys(results.proxies);
  rows.push(['', ...names].join(' | '));
  rows.push(['---', ...names.map(() => '---')].join(' | '));
  for (const [label, scenario, key, digits, perSecond] of metrics) {
    const cells = names.map((n) => {
      const runs = results.proxies[n][scenario];
      let v = med(runs, key);
      if (perSecond && key === 'messages') v = v / (runs?.[0]?.seconds ?? 1);
      const peer = n.replace('gatehouse', 'nginx');
      let ratio = '';
      if (n.startsWith('gatehouse') && results.proxies[peer]) {
        let p = med(results.proxies[peer][scenario], key);
        if (perSecond && key === 'messages') p = p / (results.proxies[peer][scenario]?.[0]?.seconds ?? 1);
        if (Number.isFinite(v / p)) ratio = ` (${(v / p).toFixed(2)}×)`;
      }
      return `${fmt(v, digits)}${ratio}`;
    });
    rows.push([label, ...cells].join(' | '));
  }
  rows.push(['RSS MB after', ...names.map((n) => fmt(results.proxies[n].rssMb, 0))].join(' | '));
  return rows.map((r) => `| ${r} |`).join('\n');
}

await main();
