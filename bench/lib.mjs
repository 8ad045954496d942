// Measurement primitives shared by the bench: options, pinning, /proc CPU and RSS of a process
// tree, and the load generators (wrk, h2load, ws-load.mjs). Every load is bounded by its own
// duration plus a hard kill 30 s after it.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';

export const here = dirname(fileURLToPath(import.meta.url));
export const root = join(here, '..');
export const out = join(here, 'out');
export const cores = availableParallelism();
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

/** `--name value` or `--name=value` from argv. */
export function options(argv) {
  // `raw`: the value may itself start with "--" (--node-args "--cpu-prof …").
  const opt = (name, fallback, raw = false) => {
    const i = argv.indexOf(`--${name}`);
    if (i !== -1 && argv[i + 1] !== undefined && (raw || !argv[i + 1].startsWith('--'))) return argv[i + 1];
    const eq = argv.find((a) => a.startsWith(`--${name}=`));
    return eq === undefined ? fallback : eq.slice(name.length + 3);
  };
  const flag = (name) => argv.includes(`--${name}`);
  return { opt, flag };
}

export function parseSeconds(text) {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text);
  if (!m) throw new Error(`bad duration ${text}`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
}
export const have = (cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
/** The proxy on core 0, load generators on the last core: the two never share a core. */
export const pinned = (core, cmd, args) => (have('taskset') && cores > 1 ? ['taskset', ['-c', String(core), cmd, ...args]] : [cmd, args]);
export const LOAD_CORE = cores - 1;
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export const median = (xs) => { const s = [...xs].filter(Number.isFinite).sort((a, b) => a - b); return s.length === 0 ? NaN : s[Math.floor((s.length - 1) / 2)]; };

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
/** utime+stime (fields 14 and 15 of /proc/PID/stat) of a process tree, in microseconds. */
export function cpuMicros(pid) {
  let ticks = 0;
  for (const p of tree(pid)) {
    try {
      const fields = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ');
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch { /* gone */ }
  }
  return (ticks * 1e6) / CLK_TCK;
}
/**
 * On-CPU time of a process tree in nanoseconds: the first field of every thread's
 * /proc/PID/task/TID/schedstat (the scheduler's own clock, not ticks of 1/CLK_TCK s), so a
 * run of a second or two resolves a change of a fraction of a percent. Threads that exit
 * between two readings take their time with them; Node's and nginx's stay for the run.
 */
export function cpuNanos(pid) {
  let ns = 0;
  for (const p of tree(pid)) {
    let tasks = [];
    try { tasks = readdirSync(`/proc/${p}/task`); } catch { /* gone */ }
    for (const tid of tasks) {
      try { ns += Number(readFileSync(`/proc/${p}/task/${tid}/schedstat`, 'utf8').split(' ')[0]); } catch { /* gone */ }
    }
  }
  return ns;
}

export function rssKb(pid) {
  let kb = 0;
  for (const p of tree(pid)) {
    try { kb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${p}/status`, 'utf8'))?.[1] ?? 0); } catch { /* gone */ }
  }
  return kb;
}

/** Resolves with the ALPN protocol chosen when offering h2 first, once the port answers TLS. */
export async function waitTls(port, alpn = ['h2', 'http/1.1']) {
  for (let i = 0; i < 200; i++) {
    const got = await new Promise((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: alpn }, () => { const p = s.alpnProtocol; s.destroy(); resolve(p || 'none'); });
      s.on('error', () => resolve(undefined));
    });
    if (got !== undefined) return got;
    await sleep(50);
  }
  throw new Error(`nothing answers TLS on ${port}`);
}

/** Run a load generator to completion, bounded: killed 30 s after its own duration. */
async function bounded(cmd, args, seconds) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  child.stderr.on('data', (d) => { text += d; });
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 30) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearTimeout(guard);
  return text;
}

/** wrk, asynchronously: the backends live in the bench process and must keep answering. */
export async function wrk(port, { connections, seconds, extra = [], path = '/' }) {
  const [cmd, args] = pinned(LOAD_CORE, 'wrk', ['-t1', `-c${connections}`, `-d${seconds}s`, '--latency', '-H', 'Host: localhost', ...extra, `https://127.0.0.1:${port}${path}`]);
  const text = await bounded(cmd, args, seconds);
  const num = (re) => Number(re.exec(text)?.[1] ?? NaN);
  const ms = (re) => {
    const m = re.exec(text);
    return m ? Number(m[1]) * ({ us: 0.001, ms: 1, s: 1000 }[m[2]] ?? 1) : NaN;
  };
  const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(text);
  return {
    ops: num(/(\d+) requests in/),
    rate: num(/Requests\/sec:\s+([\d.]+)/),
    p99Ms: ms(/99%\s+([\d.]+)(us|ms|s)/),
    errors: (socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (num(/Non-2xx or 3xx responses: (\d+)/) || 0),
    raw: text,
  };
}

/** h2load over TLS with ALPN h2: `clients` connections, `streams` concurrent streams each. */
export async function h2load(port, { clients, streams, seconds }) {
  const [cmd, args] = pinned(LOAD_CORE, 'h2load', ['-t1', `-c${clients}`, `-m${streams}`, '-D', String(seconds), `https://127.0.0.1:${port}/`]);
  const text = await bounded(cmd, args, seconds);
  const m = /requests: (\d+) total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored/.exec(text);
  const status = /status codes: (\d+) 2xx/.exec(text);
  const protocol = /Application protocol: (\S+)/.exec(text)?.[1] ?? 'none';
  return {
    ops: Number(status?.[1] ?? NaN),
    rate: Number(/finished in [\d.]+s, ([\d.]+) req\/s/.exec(text)?.[1] ?? NaN),
    // failed + errored; with -D, responses of streams still open at the cut-off show in the
    // status codes but not in "done", so done - 2xx is no error count.
    errors: m ? Number(m[4]) + Number(m[5]) : NaN,
    protocol,
    raw: text,
  };
}

function nodeLoad(script, args) {
  const [cmd, a] = pinned(LOAD_CORE, process.execPath, [join(here, script), ...args]);
  return spawn(cmd, a, { stdio: ['pipe', 'pipe', 'inherit'] });
}

/**
 * A child's stdout read as one JSON value per line: `next()` resolves with the next value, or
 * undefined once the child has exited with nothing more written.
 */
export function jsonLines(child) {
  const lines = [];
  let buffered = '';
  let wake = () => {};
  child.stdout.on('data', (d) => {
    buffered += d;
    const parts = buffered.split('\n');
    buffered = parts.pop();
    lines.push(...parts.filter(Boolean).map((l) => JSON.parse(l)));
    wake();
  });
  child.on('exit', () => wake());
  return async () => {
    while (lines.length === 0 && child.exitCode === null && child.signalCode === null) await new Promise((r) => { wake = r; });
    return lines.shift();
  };
}

/**
 * Exactly `count` operations of `mode` (bench/count-load.mjs) against `port`; `clock()` is read
 * once the client's connections are open and again when the last answer is in, so the figure
 * holds the operations and nothing of the client's set-up. Bounded: killed after 10 minutes.
 */
export async function countLoad(port, { mode, count, connections, streams = 1, ca, path = '/' }, clock) {
  const child = nodeLoad('count-load.mjs', [`--mode=${mode}`, `--port=${port}`, `--count=${count}`, `--connections=${connections}`, `--streams=${streams}`, `--ca=${ca}`, `--path=${path}`]);
  const guard = setTimeout(() => child.kill('SIGKILL'), 600_000);
  const next = jsonLines(child);
  try {
    if ((await next())?.ready !== true) throw new Error(`count-load ${mode} could not open its connections to ${port}`);
    const before = clock();
    child.stdin.write('go\n');
    const r = await next();
    const after = clock();
    if (r === undefined) throw new Error(`count-load ${mode} against ${port} ended without a result`);
    return { ops: r.ops, errors: r.errors, rate: r.ops / r.seconds, cpu: after - before };
  } finally {
    clearTimeout(guard);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** 1 KB WebSocket ping-pong over `connections` tunnels for `seconds`. */
export async function wsRelay(port, { connections, seconds, ca }) {
  const child = nodeLoad('ws-load.mjs', [`--url=wss://127.0.0.1:${port}/`, `--connections=${connections}`, '--size=1024', `--seconds=${seconds}`, `--ca=${ca}`, '--origin=https://localhost']);
  child.stdin.end();
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  const guard = setTimeout(() => child.kill('SIGKILL'), (seconds + 60) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearTimeout(guard);
  const r = JSON.parse(text.trim().split('\n').pop() || '{}');
  return { ops: r.messages, rate: r.messages / seconds, p99Ms: r.p99Ms, errors: r.errors };
}

/**
 * Open `count` idle wss connections and keep them until close() (bounded: ws-load exits by
 * itself after 120 s). Resolves once all are open (or 150 s passed).
 */
export async function idleSockets(port, { count, ca }) {
  const child = nodeLoad('ws-load.mjs', [`--url=wss://127.0.0.1:${port}/`, `--connections=${count}`, '--mode=idle', `--ca=${ca}`, '--origin=https://localhost']);
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  // Bounded: 2,000 handshakes take ~10 s on a quiet 2-core machine, far longer on a busy one.
  for (let i = 0; i < 3000 && !text.includes('open'); i++) await sleep(50);
  const opened = JSON.parse(text.trim() || '{"open":0,"errors":0}');
  return {
    ...opened,
    async close() {
      child.stdin.end();
      await Promise.race([new Promise((r) => child.on('exit', r)), sleep(10_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
