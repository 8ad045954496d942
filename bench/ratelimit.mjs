#!/usr/bin/env node
// Rate-limit accuracy (issue 23): Gatehouse with `workers: 2` and a limit (default 100/s, burst
// 50), offered load (default 5,000 req/s) from 20 loopback client addresses over h2 for 10 s;
// then the same against two instances sharing one Redis (when redis-server is installed), each
// address's requests alternating between them. Per address: requests served ÷ what the budget
// allows in that time (burst + 1 + rate × seconds). Bounded in count and time; prints JSON.
//   npm run build && node bench/ratelimit.mjs [--rate 100] [--burst 50] [--offered 5000] [--addresses 20] [--seconds 10]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { connect } from 'node:http2';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { startBenchBackend } from './backend.mjs';
import { have, options, root, sleep } from './lib.mjs';

const { opt } = options(process.argv.slice(2));
const RATE = Number(opt('rate', '100'));
const BURST = Number(opt('burst', '50'));
const OFFERED = Math.min(50_000, Number(opt('offered', '5000')));
const ADDRESSES = Math.min(200, Number(opt('addresses', '20')));
const SECONDS = Math.min(120, Number(opt('seconds', '10')));
/** Requests one address may have open at once: beyond it, a tick's share is not sent (counted as unsent). */
const MAX_IN_FLIGHT = 256;

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
  const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), '--config', file], { stdio: ['ignore', 'inherit', 'inherit'] });
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
  return port;
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

/** One address's h2 sessions (one per instance), paced by a 10 ms tick. */
async function offer(ports) {
  const perAddress = OFFERED / ADDRESSES;
  const results = [];
  const sessions = [];
  for (let a = 0; a < ADDRESSES; a++) {
    const localAddress = `127.0.0.${10 + a}`;
    const list = ports.map((port) => {
      const s = connect(`https://localhost:${port}`, { ca, servername: 'localhost', localAddress, host: '127.0.0.1' });
      s.on('error', (err) => { if (process.env.DEBUG) console.error('session error', localAddress, err.message); });
      s.on('goaway', (code) => { if (process.env.DEBUG) console.error('goaway', localAddress, code); });
      return s;
    });
    sessions.push(...list);
    results.push({ localAddress, list, served: 0, limited: 0, other: 0, unsent: 0, inFlight: 0, turn: 0, due: 0 });
  }
  await Promise.all(sessions.map((s) => new Promise((r) => (s.connected ? r() : s.once('connect', r)))));
  const start = performance.now();
  await new Promise((resolve) => {
    const tick = setInterval(() => {
      const elapsed = (performance.now() - start) / 1000;
      if (elapsed >= SECONDS) { clearInterval(tick); resolve(); return; }
      for (const r of results) {
        const want = Math.floor(perAddress * elapsed) - r.due;
        r.due += want;
        for (let i = 0; i < want; i++) {
          if (r.inFlight >= MAX_IN_FLIGHT) { r.unsent++; continue; }
          r.inFlight++;
          const session = r.list[r.turn++ % r.list.length];
          const req = session.request({ ':path': '/', ':authority': 'localhost' });
          req.on('response', (h) => {
            const status = h[':status'];
            if (status === 200) r.served++; else if (status === 429) r.limited++; else r.other++;
          });
          req.on('error', (err) => { r.other++; if (process.env.DEBUG && r.other < 3) console.error('stream error', err.message); });
          req.on('close', () => { r.inFlight--; });
          req.resume();
          req.end();
        }
      }
    }, 10);
  });
  await sleep(1000);
  for (const s of sessions) s.close();
  // Decisions by outcome, from every instance's admin listener (store_error: served without one).
  const outcomes = {};
  for (const admin of admins.splice(0)) {
    const text = await scrape(admin);
    for (const m of text.matchAll(/^gatehouse_ratelimit_total\{[^}]*outcome="([a-z_]+)"[^}]*\} (\d+)/gm)) outcomes[m[1]] = (outcomes[m[1]] ?? 0) + Number(m[2]);
  }
  const allowed = BURST + 1 + RATE * SECONDS;
  const rows = results.map((r) => ({ address: r.localAddress, served: r.served, limited: r.limited, other: r.other, unsent: r.unsent, ratio: r.served / allowed }));
  const ratios = rows.map((r) => r.ratio).sort((a, b) => a - b);
  const sent = rows.reduce((n, r) => n + r.served + r.limited + r.other, 0);
  return {
    allowedPerAddress: allowed, offeredPerSecond: Math.round(sent / SECONDS), unsent: rows.reduce((n, r) => n + r.unsent, 0),
    ratioMin: ratios[0], ratioMedian: ratios[Math.floor(ratios.length / 2)], ratioMax: ratios[ratios.length - 1],
    errors: rows.reduce((n, r) => n + r.other, 0), outcomes, rows,
  };
}

const leafCa = makeCa(dir, { name: 'Gatehouse bench CA' });
makeLeaf(dir, { ca: leafCa, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
ca = readFileSync(join(dir, 'ca.pem'));
const backend = await startBenchBackend();
const backendPort = backend.address().port;
const report = { rate: RATE, burst: BURST, offered: OFFERED, addresses: ADDRESSES, seconds: SECONDS, node: process.version };

report.workers2 = await offer([await gatehouse('workers', backendPort, 2)]);
if (have('redis-server')) {
  const redisPort = await freePort();
  await start('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], (t) => t.includes('Ready to accept'), 'redis-server');
  const store = `redis://127.0.0.1:${redisPort}`;
  report.redisPair = await offer([await gatehouse('a', backendPort, 1, store), await gatehouse('b', backendPort, 1, store)]);
} else {
  report.redisPair = 'skipped: redis-server not installed';
}
backend.close();
const brief = (r) => (typeof r === 'string' || process.env.ROWS === '1' ? r : { ...r, rows: undefined });
console.log(JSON.stringify({ ...report, workers2: brief(report.workers2), redisPair: brief(report.redisPair) }, null, 2));
process.exit(0);
