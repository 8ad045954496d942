// `npm run bench -- --url https://your.host/ [--ws wss://your.host/path] [--origin https://your.host]
//   [--connections 50] [--duration 30s] [--rate R] [--ca FILE] [--out DIR] [--scenario rotate]`
// Loads any edge over HTTPS (and WebSocket), with a live progress line and a final summary:
// req/s, latency percentiles, errors by kind, TLS version/cipher, HSTS. Writes JSON and an
// SVG latency chart. `--scenario rotate` runs a local Gatehouse with a test certificate and
// renews that certificate mid-run, reporting dropped requests and WebSockets (must be 0).
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync, copyFileSync, renameSync, mkdtempSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { connect } from 'node:tls';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { startBenchBackend } from './backend.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  if (i !== -1 && argv[i + 1] !== undefined && !argv[i + 1].startsWith('--')) return argv[i + 1];
  const eq = argv.find((a) => a.startsWith(`--${name}=`));
  return eq === undefined ? fallback : eq.slice(name.length + 3);
};
const seconds = (text) => {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(String(text));
  if (!m) throw new Error(`bad duration "${text}" (use 30s, 2m, 500ms)`);
  return Number(m[1]) * (m[2] === 'ms' ? 0.001 : m[2] === 'm' ? 60 : 1);
};

const parseUrl = (text, flag) => {
  try {
    return new URL(text);
  } catch {
    console.error(`--${flag} "${text}" is not a URL: use e.g. --${flag} ${flag === 'ws' ? 'wss://app.example.com/realtime' : 'https://app.example.com/'}`);
    process.exit(2);
  }
};
let url = opt('url') === undefined ? undefined : parseUrl(opt('url'), 'url');
let wsUrl = opt('ws') ? parseUrl(opt('ws'), 'ws') : undefined;
let origin = opt('origin');
const CONNECTIONS = Number(opt('connections', '50'));
const DURATION = seconds(opt('duration', '30s'));
const RATE = opt('rate') ? Number(opt('rate')) : undefined;
const OUT = opt('out', join(here, 'out'));
const scenario = opt('scenario');
let ca = opt('ca') ? readFileSync(opt('ca')) : undefined;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

let rotate;
if (scenario === 'rotate') rotate = await localEdge();
else if (url === undefined) {
  console.error('give --url https://your.host/ (or --scenario rotate for the local renewal check)');
  process.exit(2);
}

/** What the server says about itself on one handshake. */
function probeTls() {
  return new Promise((resolve) => {
    const s = connect({ host: url.hostname, port: Number(url.port || 443), servername: url.hostname, ca, ALPNProtocols: ['http/1.1'] }, () => {
      const cert = s.getPeerX509Certificate();
      resolve({ version: s.getProtocol(), cipher: s.getCipher()?.name, alpn: s.alpnProtocol, serial: cert?.serialNumber, notAfter: cert?.validTo });
      s.end();
    });
    s.on('error', (err) => resolve({ error: err.code ?? err.message }));
  });
}

const latencies = [];
const perSecond = [];
const errors = new Map();
let ok = 0;
let hsts;
let stopping = false;
const fail = (kind) => errors.set(kind, (errors.get(kind) ?? 0) + 1);
const agent = new Agent({ keepAlive: true, maxSockets: CONNECTIONS, ca });

function once() {
  return new Promise((resolve) => {
    const start = performance.now();
    const req = request(url, { agent, ca, headers: { 'user-agent': 'gatehouse-bench' } }, (res) => {
      hsts ??= res.headers['strict-transport-security'] ?? null;
      res.resume();
      res.on('end', () => {
        const ms = performance.now() - start;
        if (res.statusCode >= 200 && res.statusCode < 400) { ok++; latencies.push(ms); perSecond.at(-1)?.push(ms); } else fail(`http ${res.statusCode}`);
        resolve();
      });
      res.on('error', (err) => { fail(err.code ?? 'response error'); resolve(); });
    });
    req.setTimeout(10_000, () => req.destroy(Object.assign(new Error('timeout'), { code: 'timeout' })));
    req.on('error', (err) => { fail(err.code ?? err.message); resolve(); });
    req.end();
  });
}

async function worker() {
  while (!stopping) {
    if (RATE === undefined) await once();
    else {
      const started = performance.now();
      void once();
      await sleep(Math.max(0, (CONNECTIONS * 1000) / RATE - (performance.now() - started)));
    }
  }
}

const wsStats = { open: 0, messages: 0, dropped: 0, failed: 0 };
async function wsClients() {
  if (!wsUrl) return [];
  const sockets = [];
  for (let i = 0; i < Math.min(CONNECTIONS, 50); i++) {
    const ws = new WebSocket(wsUrl, { ca, ...(origin ? { origin } : {}) });
    ws.on('open', () => { wsStats.open++; ws.send('ping'); });
    ws.on('message', () => { wsStats.messages++; if (!stopping) setTimeout(() => ws.readyState === 1 && ws.send('ping'), 100); });
    ws.on('close', () => { if (!stopping) wsStats.dropped++; });
    ws.on('error', () => { wsStats.failed++; });
    sockets.push(ws);
  }
  return sockets;
}

const tls = await probeTls();
const sockets = await wsClients();
const started = performance.now();
const ticker = setInterval(() => {
  perSecond.push([]);
  const elapsed = (performance.now() - started) / 1000;
  const last = perSecond.at(-2) ?? [];
  process.stderr.write(`\r${elapsed.toFixed(0).padStart(4)}s  ${String(last.length).padStart(6)} req/s  ok ${ok}  errors ${[...errors.values()].reduce((a, b) => a + b, 0)}  ws open ${wsStats.open - wsStats.dropped}/${sockets.length}   `);
}, 1000);
perSecond.push([]);
if (rotate) setTimeout(() => rotate.renew(), (DURATION * 1000) / 2);
const workers = Array.from({ length: CONNECTIONS }, worker);
await sleep(DURATION * 1000);
stopping = true;
clearInterval(ticker);
await Promise.all(workers);
const tlsAfter = await probeTls();
for (const s of sockets) s.close();
agent.destroy();
process.stderr.write('\n');

latencies.sort((a, b) => a - b);
const q = (p) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] ?? NaN;
const elapsed = (performance.now() - started) / 1000;
const summary = {
  url: url.href, ws: wsUrl?.href ?? null, connections: CONNECTIONS, durationS: Math.round(elapsed * 10) / 10, rate: RATE ?? null,
  requests: ok, reqPerS: Math.round(ok / elapsed), latencyMs: { p50: q(0.5), p90: q(0.9), p99: q(0.99), max: latencies.at(-1) ?? NaN },
  errors: Object.fromEntries(errors), tls, hsts: hsts ?? null,
  websockets: wsUrl ? { opened: wsStats.open, failedToOpen: wsStats.failed, dropped: wsStats.dropped, messages: wsStats.messages } : null,
  ...(rotate ? { rotation: { before: tls.serial, after: tlsAfter.serial, swapped: tls.serial !== tlsAfter.serial } } : {}),
};
mkdirSync(OUT, { recursive: true });
const stamp = new Date().toISOString().replace(/[:.]/g, '-');
writeFileSync(join(OUT, `user-${stamp}.json`), JSON.stringify(summary, null, 2));
writeFileSync(join(OUT, `user-${stamp}.svg`), chart(perSecond.filter((s) => s.length > 0), summary));
console.log(JSON.stringify(summary, null, 2));
console.log(`\nwrote ${join(OUT, `user-${stamp}.json`)} and .svg`);
if (rotate) {
  await rotate.stop();
  const dropped = Object.values(summary.errors).reduce((a, b) => a + b, 0) + (summary.websockets?.dropped ?? 0);
  console.log(`rotation: certificate ${summary.rotation.swapped ? 'swapped' : 'NOT swapped'}, ${dropped} dropped requests/WebSockets`);
  process.exitCode = summary.rotation.swapped && dropped === 0 ? 0 : 1;
}

/** Per-second p50/p99 latency lines and throughput bars, as a standalone SVG. */
function chart(seconds, s) {
  const W = 900, H = 360, P = 50;
  const pct = (xs, p) => { const v = [...xs].sort((a, b) => a - b); return v[Math.min(v.length - 1, Math.floor(p * v.length))] ?? 0; };
  const p50 = seconds.map((x) => pct(x, 0.5));
  const p99 = seconds.map((x) => pct(x, 0.99));
  const rps = seconds.map((x) => x.length);
  const maxMs = Math.max(1, ...p99) * 1.1;
  const maxRps = Math.max(1, ...rps) * 1.1;
  const x = (i) => P + (i / Math.max(1, seconds.length - 1)) * (W - 2 * P);
  const y = (v, max) => H - P - (v / max) * (H - 2 * P);
  const line = (vals, color) => `<polyline fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${x(i).toFixed(1)},${y(v, maxMs).toFixed(1)}`).join(' ')}"/>`;
  const bars = rps.map((v, i) => `<rect x="${(x(i) - 3).toFixed(1)}" y="${y(v, maxRps).toFixed(1)}" width="6" height="${(H - P - y(v, maxRps)).toFixed(1)}" fill="#dde6f0"/>`).join('');
  const esc = (t) => String(t).replace(/[<&>]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;' }[c]));
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/>
<text x="${P}" y="20" font-size="14">${esc(s.url)} — ${s.reqPerS} req/s, p50 ${s.latencyMs.p50?.toFixed(2)} ms, p99 ${s.latencyMs.p99?.toFixed(2)} ms, errors ${Object.values(s.errors).reduce((a, b) => a + b, 0)}</text>
${bars}${line(p50, '#2a7ab0')}${line(p99, '#c0392b')}
<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="black"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="black"/>
<text x="4" y="${P - 4}">${maxMs.toFixed(1)} ms</text><text x="${P - 5}" y="${H - P}" text-anchor="end">0</text>
<text x="${W - P}" y="${H - P + 20}" text-anchor="end">${seconds.length} s</text>
<text x="${W - P}" y="${P - 10}" text-anchor="end"><tspan fill="#2a7ab0">p50</tspan> <tspan fill="#c0392b">p99</tspan> <tspan fill="#9ab">req/s (bars, max ${Math.round(maxRps / 1.1)})</tspan></text>
</svg>
`;
}

/** --scenario rotate: a local Gatehouse on a throwaway certificate, renewed mid-run by rename. */
async function localEdge() {
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
