// Soak: Gatehouse under mixed load for a bounded time, on loopback only, with every byte checked.
//   node bench/soak.mjs [--duration 3m] [--workers 1] [--idle 2000] [--env K=V,K=V] [--mode soak|bursts] [--bursts 3]
//                       [--port N] [--name soak]   (files in bench/out/NAME: config, certificates, log, summary.json)
// soak: keep-alive and h2 GET/POST (bodies up to 256 KiB echoed and compared byte for byte), new
// connections, WebSocket sessions with every message compared, client aborts mid-body and
// mid-response; on a schedule a SIGHUP that adds or removes a target and a burst of `--idle` idle
// wss opened and closed. Every 5 s the RSS and open fds of Gatehouse's process tree are sampled.
// bursts: only the idle-wss bursts, RSS at rest after each (the allocator comparison in RESULTS).
// Prints a summary; exit 1 on a lost byte, an unexpected failure or an unclean stop.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, openSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Agent, request as httpsRequest } from 'node:https';
import { connect as h2connect } from 'node:http2';
import { join } from 'node:path';
import WebSocket, { WebSocketServer } from 'ws';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { options, out, parseSeconds, root, rssKb, sleep, waitTls } from './lib.mjs';

const { opt } = options(process.argv.slice(2));
const mode = opt('mode', 'soak');
const duration = parseSeconds(opt('duration', '3m'));
const workers = Number(opt('workers', '1'));
const idleCount = Number(opt('idle', '2000'));
const bursts = Number(opt('bursts', '3'));
const extraEnv = Object.fromEntries((opt('env', '') || '').split(',').filter(Boolean).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
const port = Number(opt('port', String(24_000 + Math.floor(Math.random() * 4000))));
const MAX_BODY = 256 * 1024;

const dir = join(out, opt('name', 'soak'));
mkdirSync(dir, { recursive: true });
const ca = makeCa(join(dir, 'certs'), { name: 'Gatehouse soak CA' });
const leaf = makeLeaf(join(dir, 'certs'), { ca, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
const caPem = readFileSync(ca.cert);

// Backends: GET /n/SIZE answers SIZE bytes of a pattern, POST echoes, WebSocket echoes.
async function backend() {
  const server = createServer((req, res) => {
    if (req.method === 'POST') { req.pipe(res); return; }
    const size = Number(/^\/n\/(\d+)/.exec(req.url ?? '')?.[1] ?? 100);
    res.writeHead(200, { 'content-length': size }).end(pattern(size));
  });
  server.keepAliveTimeout = 65_000;
  new WebSocketServer({ server, perMessageDeflate: false }).on('connection', (ws) => ws.on('message', (d, binary) => ws.send(d, { binary })));
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return server;
}
const pattern = (size) => Buffer.alloc(size, 'gatehouse-soak-');
const backends = [await backend(), await backend()];
const addr = (s) => `127.0.0.1:${s.address().port}`;

const cfg = join(dir, 'gatehouse.yaml');
const config = (targets) => `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${leaf.fullchain}", key: "${leaf.key}" }] }
upstreams: { app: { targets: [${targets.map((t) => `"${t}"`).join(', ')}] } }
sites: [{ hosts: [localhost, 127.0.0.1], routes: [{ path: /, upstream: app, websocket: { allowMissingOrigin: true } }] }]
workers: ${workers}
log: { level: warn }
`;
writeFileSync(cfg, config([addr(backends[0])]));
const logFd = openSync(join(dir, 'gatehouse.log'), 'w');
const child = spawn(process.execPath, [join(root, 'dist', 'cli.js'), '--config', cfg], { stdio: ['ignore', logFd, logFd], env: { ...process.env, ...extraEnv } });
const hardStop = setTimeout(() => { child.kill('SIGKILL'); process.exit(2); }, (duration + 300) * 1000);
hardStop.unref();
await waitTls(port);

const tally = { reusedResets: 0, requests: 0, bytesCompared: 0, lostBytes: 0, unexpected: 0, aborts: 0, wsSessions: 0, wsMessages: 0, reloads: 0, bursts: [], failures: [] };
const fail = (what, err) => { tally.unexpected++; if (tally.failures.length < 20) tally.failures.push(`${what}: ${err?.code ?? ''} ${err?.message ?? err}`); };
/** Gatehouse and its workers (the cluster's children), from /proc. */
function tree(pid) {
  const all = [pid];
  for (let i = 0; i < all.length; i++) {
    try {
      for (const task of readdirSync(`/proc/${all[i]}/task`)) all.push(...readFileSync(`/proc/${all[i]}/task/${task}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number));
    } catch { /* gone */ }
  }
  return all;
}
const fds = (pid) => tree(pid).reduce((n, p) => { try { return n + readdirSync(`/proc/${p}/fd`).length; } catch { return n; } }, 0);
const samples = [];
const sample = (label) => samples.push({ t: Math.round(process.uptime()), label, rssMb: Math.round(rssKb(child.pid) / 1024), fds: fds(child.pid) });

const agent = new Agent({ keepAlive: true, ca: caPem, servername: 'localhost', maxSockets: 4 });
/** One HTTPS exchange; resolves with the body, or rejects. `abortAt` destroys it on purpose. */
function exchange({ method = 'GET', path = '/n/100', body = undefined, fresh = false, abort = undefined }) {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, method, path, agent: fresh ? false : agent, ca: caPem, servername: 'localhost', headers: { host: 'localhost', ...(body ? { 'content-length': body.length } : {}) } }, (res) => {
      const chunks = [];
      res.on('data', (c) => { chunks.push(c); if (abort === 'response') req.destroy(); });
      res.on('end', () => resolve({ status: res.statusCode, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    // reusedSocket: the request went out on a kept-alive connection (Node's docs: the race where
    // the server closed it first); reported apart so the summary says which kind of failure it is.
    req.on('error', (err) => { err.reused = req.reusedSocket; reject(err); });
    if (abort === 'body') { req.write(body.subarray(0, body.length >> 1)); setTimeout(() => { req.destroy(); resolve(undefined); }, 5); return; }
    req.end(body);
  });
}

async function check(kind, promise, expected) {
  try {
    const r = await promise;
    tally.requests++;
    if (r.status !== 200) { fail(kind, new Error(`status ${r.status}`)); return; }
    tally.bytesCompared += expected.length;
    if (!r.body.equals(expected)) { tally.lostBytes += Math.abs(expected.length - r.body.length) || 1; fail(kind, new Error(`body differs (${r.body.length} of ${expected.length} bytes)`)); }
  } catch (err) {
    if (err.reused === true) tally.reusedResets++;
    fail(kind, err);
  }
}

let running = true;
async function h1Loop(i) {
  for (let n = 0; running; n++) {
    const size = 1 + Math.floor(Math.random() * MAX_BODY);
    if (n % 50 === 7) { // abort mid-body or mid-response: not a failure, but must cost nothing after
      tally.aborts++;
      await exchange(n % 100 === 7 ? { method: 'POST', path: '/echo', body: randomBytes(size), abort: 'body' } : { path: `/n/${MAX_BODY}`, abort: 'response' }).catch(() => undefined);
      continue;
    }
    // Every tenth exchange on a new connection (handshake churn), the rest keep-alive.
    if (n % 2 === 0) {
      const body = randomBytes(size);
      await check('post', exchange({ method: 'POST', path: '/echo', body, fresh: n % 10 === 0 }), body);
    } else await check('get', exchange({ path: `/n/${size}`, fresh: n % 10 === (i === 0 ? 1 : 3) }), pattern(size));
  }
}
async function postLoop() {
  while (running) {
    const body = randomBytes(1 + Math.floor(Math.random() * MAX_BODY));
    await check('post', exchange({ method: 'POST', path: '/echo', body }), body);
  }
}
async function h2Loop() {
  while (running) {
    const session = h2connect(`https://127.0.0.1:${port}`, { ca: caPem, servername: 'localhost' });
    session.on('error', () => undefined);
    for (let n = 0; running && n < 200; n++) {
      const body = randomBytes(1 + Math.floor(Math.random() * 65_536));
      await check('h2', new Promise((resolve, reject) => {
        const s = session.request({ ':method': 'POST', ':path': '/echo', host: 'localhost' });
        const chunks = [];
        let status = 0;
        s.on('response', (h) => { status = h[':status']; });
        s.on('data', (c) => chunks.push(c));
        s.on('end', () => resolve({ status, body: Buffer.concat(chunks) }));
        s.on('error', reject);
        s.end(body);
      }), body);
    }
    session.close();
  }
}
async function wsLoop() {
  while (running) {
    try {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/ws`, { ca: caPem, servername: 'localhost', perMessageDeflate: false });
      await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
      for (let m = 0; m < 20; m++) {
        const msg = randomBytes(1 + Math.floor(Math.random() * 16_384));
        const echo = await new Promise((resolve, reject) => { ws.once('message', resolve); ws.once('close', () => reject(new Error('closed mid-session'))); ws.send(msg); });
        tally.wsMessages++;
        tally.bytesCompared += msg.length;
        if (!Buffer.from(echo).equals(msg)) { tally.lostBytes += msg.length; fail('ws', new Error('message differs')); }
      }
      ws.close(1000);
      tally.wsSessions++;
    } catch (err) { fail('ws', err); }
  }
}

/** `idleCount` idle wss, opened 200 at a time, held `holdMs`, closed; RSS at rest 10 s later. */
async function burst(holdMs = 5000) {
  const open = [];
  let errors = 0;
  for (let i = 0; i < idleCount; i += 200) {
    const batch = await Promise.allSettled(Array.from({ length: Math.min(200, idleCount - i) }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/idle`, { ca: caPem, servername: 'localhost', perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })));
    for (const r of batch) if (r.status === 'fulfilled') open.push(r.value); else errors++;
  }
  const peak = Math.round(rssKb(child.pid) / 1024);
  await sleep(holdMs);
  for (const ws of open) ws.close(1000);
  await sleep(10_000);
  const rest = Math.round(rssKb(child.pid) / 1024);
  tally.bursts.push({ open: open.length, errors, peakMb: peak, restMb: rest });
  if (errors > 0) fail('burst', new Error(`${errors} idle wss failed to open`));
}

await sleep(1000);
sample('baseline');
const sampler = setInterval(() => sample('load'), 5000);
const started = Date.now();
const left = () => duration * 1000 - (Date.now() - started);
if (mode === 'bursts') {
  for (let b = 0; b < bursts && left() > 0; b++) await burst();
} else {
  const loads = [h1Loop(0), h1Loop(1), postLoop(), h2Loop(), wsLoop()];
  let tick = 0;
  while (left() > 0) {
    await sleep(Math.min(30_000, Math.max(0, left())));
    if (left() <= 0) break;
    tick++;
    // Every 30 s a reload that adds or removes the second target; every 90 s an idle-wss burst.
    writeFileSync(cfg, config(tick % 2 === 1 ? [addr(backends[0]), addr(backends[1])] : [addr(backends[0])]));
    child.kill('SIGHUP');
    tally.reloads++;
    if (tick % 3 === 0 && left() > 40_000) await burst();
  }
  running = false;
  await Promise.all(loads);
}
clearInterval(sampler);
agent.destroy();
await sleep(5000);
sample('rest');
child.kill('SIGTERM');
const exit = await new Promise((r) => child.on('exit', (code, signal) => r({ code, signal })));
for (const b of backends) b.close();
const base = samples[0];
const rest = samples.at(-1);
const peak = samples.reduce((m, s) => Math.max(m, s.rssMb), 0);
const summary = { mode, durationS: duration, workers, env: extraEnv, ...tally, exit, rss: { baselineMb: base.rssMb, peakMb: peak, restMb: rest.rssMb }, fds: { baseline: base.fds, rest: rest.fds }, samples: samples.length };
writeFileSync(join(dir, 'summary.json'), JSON.stringify({ ...summary, samples }, null, 2));
console.log(JSON.stringify(summary, null, 2));
console.log(`soak ${mode}: ${tally.requests} requests, ${tally.wsSessions} WebSocket sessions (${tally.wsMessages} messages), ${(tally.bytesCompared / 1e9).toFixed(2)} GB compared, ${tally.lostBytes} bytes lost, ${tally.unexpected} unexpected failures (${tally.reusedResets} on a reused keep-alive connection), ${tally.aborts} deliberate aborts, ${tally.reloads} reloads, bursts ${tally.bursts.map((b) => `${b.peakMb}→${b.restMb} MB`).join(', ') || 'none'}; RSS ${base.rssMb} → peak ${peak} → rest ${rest.rssMb} MB; fds ${base.fds} → ${rest.fds}; exit ${JSON.stringify(exit)}`);
process.exit(tally.lostBytes === 0 && tally.unexpected === 0 && exit.code === 0 ? 0 : 1);
