// `node bench/scale.mjs [--idle=10000] [--seconds=30]`: one Gatehouse process (workers: 1)
// holding N idle wss connections (RSS per connection reported), then new TLS connections
// (one request each) for a bounded time, counting errors.
// Each tunnel is two sockets in Gatehouse: 10,000 need an fd limit above 20,000 (`ulimit -n 65536`).
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, 'out', 'scale');
const arg = (name, fallback) => Number(process.argv.find((a) => a.startsWith(`--${name}=`))?.split('=')[1] ?? fallback);
const IDLE = arg('idle', 10000);
const SECONDS = arg('seconds', 30);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);

mkdirSync(out, { recursive: true });
const ca = makeCa(out, { name: 'scale CA' });
const leaf = makeLeaf(out, { ca, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
// The backend runs in its own process: this one is busy generating load.
const backend = spawn(process.execPath, [join(here, 'backend.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
const backendPort = await new Promise((resolve) => backend.stdout.once('data', (d) => resolve(JSON.parse(d.toString()).port)));
const port = 18_900;
const cfg = join(out, 'gatehouse.yaml');
writeFileSync(cfg, `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${leaf.fullchain}", key: "${leaf.key}" }] }
upstreams: { app: { targets: ["127.0.0.1:${backendPort}"] } }
sites: [{ hosts: [localhost, 127.0.0.1], routes: [{ path: /, upstream: app }] }]
log: { level: warn }
`);
const logFd = openSync(join(here, 'out', 'scale-gatehouse.log'), 'w');
const edge = spawn(process.execPath, [join(here, '..', 'dist', 'cli.js'), '--config', cfg], { stdio: ['ignore', logFd, logFd] });
const stop = () => { for (const c of [edge, backend]) if (c.exitCode === null) c.kill('SIGKILL'); };
process.on('exit', stop);
await sleep(1500);

const base = rssKb(edge.pid);
const idle = spawn(process.execPath, [join(here, 'ws-load.mjs'), `--url=wss://127.0.0.1:${port}/`, `--connections=${IDLE}`, '--mode=idle', `--ca=${ca.cert}`, `--origin=https://localhost`], { stdio: ['pipe', 'pipe', 'inherit'] });
let text = '';
idle.stdout.on('data', (d) => { text += d; });
for (let i = 0; i < 2400 && !text.includes('open'); i++) await sleep(50);
await sleep(2000);
const held = JSON.parse(text.trim() || '{"open":0,"errors":-1}');
const withIdle = rssKb(edge.pid);
console.log(JSON.stringify({ idleWss: held.open, openErrors: held.errors, rssMbBefore: base / 1024, rssMbWith: withIdle / 1024, kbPerConnection: (withIdle - base) / Math.max(1, held.open) }));
idle.stdin.end();
await new Promise((r) => idle.on('exit', r));
await sleep(1000);

// New TLS connections for SECONDS: wrk with Connection: close (one handshake per request). A
// Node client cannot generate 1,000 handshakes/s next to the proxy on 2 cores; wrk can.
const wrk = spawn('wrk', ['-t1', '-c32', `-d${SECONDS}s`, '-H', 'Host: localhost', '-H', 'Connection: close', `https://127.0.0.1:${port}/`], { stdio: ['ignore', 'pipe', 'inherit'] });
let report = '';
wrk.stdout.on('data', (d) => { report += d; });
await new Promise((r) => wrk.on('exit', r));
const n = (re) => Number(re.exec(report)?.[1] ?? NaN);
const socketErrors = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(report);
console.log(JSON.stringify({
  seconds: SECONDS, handshakes: n(/(\d+) requests in/), perS: n(/Requests\/sec:\s+([\d.]+)/),
  socketErrors: socketErrors ? socketErrors.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
  non2xx: n(/Non-2xx or 3xx responses: (\d+)/) || 0,
}));
stop();
process.exit(0);
