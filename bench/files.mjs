#!/usr/bin/env node
// `node bench/files.mjs` (after `npm run build`): the `static` and `gzip` scenarios of issue 22.
// Gatehouse and nginx serve the same files (1 KB, 100 KB, 10 MB; nginx `sendfile on`) and
// compress the same 50 KB JSON answer of one backend (gzip level 6 both: `gzip_comp_level 6`),
// loaded in interleaved rounds (G N G N …, proxy on core 0, wrk on the last core). Figures: the
// proxy's CPU per request and per MB read by the client, per pair as a ratio to nginx.
// Options: --duration 5s --runs 3 --port 18600 --scenarios static-1k,static-100k,static-10m,gzip
// --only gatehouse,nginx,floor (floor: bench/files-floor.mjs, Node answering from memory)
// --ref DIR (a built tree of another commit, run as `ref` beside the working tree) --abba.
// Every load is bounded; only our children are stopped.
import { spawn } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { LOAD_CORE, cpuNanos, have, median, options, out, parseSeconds, pinned, root, sleep, waitTls } from './lib.mjs';

const { opt } = options(process.argv.slice(2));
const DURATION = parseSeconds(opt('duration', '5s'));
const RUNS = Math.min(20, Number(opt('runs', '3')));
const BASE = Number(opt('port', '18600'));
const ONLY = opt('only', 'gatehouse,nginx,floor').split(',');
const REF = opt('ref', undefined);
const ABBA = options(process.argv.slice(2)).flag('abba');
const PICK = opt('scenarios', undefined)?.split(',');
const dir = join(out, 'files');
const pub = join(dir, 'public');
mkdirSync(pub, { recursive: true });
const SIZES = { '1k': 1024, '100k': 100 * 1024, '10m': 10 * 1024 * 1024 };
for (const [name, size] of Object.entries(SIZES)) {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 9)) & 0xff;
  writeFileSync(join(pub, `${name}.bin`), b);
}
const JSON_BODY = JSON.stringify({ items: Array.from({ length: 900 }, (_, i) => ({ id: i, name: `item number ${i}`, tags: ['a', 'b'], ok: i % 3 === 0 })) }).slice(0, 50 * 1024 - 2) + '""';

const ALL = {
  'static-1k': { path: '/static/1k.bin', connections: 50, extra: [] },
  'static-100k': { path: '/static/100k.bin', connections: 20, extra: [] },
  'static-10m': { path: '/static/10m.bin', connections: 4, extra: [] },
  gzip: { path: '/api/data.json', connections: 20, extra: ['-H', 'Accept-Encoding: gzip'] },
};
const SCENARIOS = Object.fromEntries(Object.entries(ALL).filter(([k]) => PICK === undefined || PICK.includes(k)));

function gatehouseConfig(port, leaf, backend) {
  return `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${leaf.fullchain}", key: "${leaf.key}" }] }
upstreams: { app: { targets: ["${backend}"] } }
sites:
  - hosts: [localhost, 127.0.0.1]
    routes:
      - { path: /static/, files: { root: "${pub}", stripPrefix: true } }
      - { path: /api/, upstream: app, compress: { algorithms: [gzip], types: [application/json], minLength: 1k } }
workers: 1
log: { level: info }
`;
}

function nginxConfig(port, leaf, backend) {
  for (const t of ['client', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, 'tmp', t), { recursive: true });
  mkdirSync(join(dir, 'logs'), { recursive: true });
  return `worker_processes 1;
pid ${join(dir, 'nginx.pid')};
error_log ${join(dir, 'logs', 'error.log')} warn;
events { worker_connections 4096; }
http {
  include /etc/nginx/mime.types;
  access_log ${join(dir, 'logs', 'access.log')} combined buffer=64k flush=1s;
  keepalive_requests 1000000;
  sendfile on;
  client_body_temp_path ${join(dir, 'tmp', 'client')};
  proxy_temp_path ${join(dir, 'tmp', 'proxy')};
  fastcgi_temp_path ${join(dir, 'tmp', 'fastcgi')};
  uwsgi_temp_path ${join(dir, 'tmp', 'uwsgi')};
  scgi_temp_path ${join(dir, 'tmp', 'scgi')};
  upstream app { server ${backend}; keepalive 64; keepalive_requests 1000000; }
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${leaf.fullchain};
    ssl_certificate_key ${leaf.key};
    ssl_protocols TLSv1.3;
    add_header Strict-Transport-Security "max-age=31536000" always;
    location /static/ { alias ${pub}/; }
    location /api/ {
      proxy_pass http://app;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $remote_addr;
      proxy_set_header X-Forwarded-Proto https;
      gzip on; gzip_comp_level 6; gzip_types application/json; gzip_min_length 1024; gzip_proxied any; gzip_vary on;
    }
  }
}
`;
}

/** wrk against one path, bounded (killed 30 s after its duration). */
async function load(port, s) {
  const [cmd, args] = pinned(LOAD_CORE, 'wrk', ['-t1', `-c${s.connections}`, `-d${DURATION}s`, '-H', 'Host: localhost', ...s.extra, `https://127.0.0.1:${port}${s.path}`]);
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let text = '';
  child.stdout.on('data', (d) => { text += d; });
  child.stderr.on('data', (d) => { text += d; });
  const guard = setTimeout(() => child.kill('SIGKILL'), (DURATION + 30) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearTimeout(guard);
  const m = /(\d+) requests in [\d.]+\w+, ([\d.]+)(B|KB|MB|GB) read/.exec(text);
  const mb = m ? Number(m[2]) * { B: 1 / 1048576, KB: 1 / 1024, MB: 1, GB: 1024 }[m[3]] : NaN;
  const bad = Number(/Non-2xx or 3xx responses: (\d+)/.exec(text)?.[1] ?? 0);
  return { ops: Number(m?.[1] ?? NaN), mb, errors: bad + (/Socket errors/.test(text) ? 1 : 0), raw: text };
}

async function main() {
  if (!have('wrk') || !have('nginx')) throw new Error('wrk and nginx are needed');
  const certDir = join(dir, 'certs');
  const ca = makeCa(certDir, { name: 'Gatehouse bench CA' });
  const leaf = makeLeaf(certDir, { ca, basename: 'localhost', sans: ['localhost', '127.0.0.1'] });
  const backend = createServer((req, res) => res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(JSON_BODY) }).end(JSON_BODY));
  await new Promise((r) => backend.listen(BASE + 2, '127.0.0.1', r));
  const upstream = `127.0.0.1:${BASE + 2}`;
  const children = [];
  try {
    const gCfg = join(dir, 'gatehouse.yaml');
    writeFileSync(gCfg, gatehouseConfig(BASE, leaf, upstream));
    const targets = [];
    const start = (name, port, cmd, args, log) => {
      const [c, a] = pinned(0, cmd, args);
      const child = spawn(c, a, { stdio: ['ignore', log ?? 'ignore', log ?? 'ignore'] });
      children.push(child);
      targets.push({ name, pid: child.pid, port });
    };
    if (ONLY.includes('gatehouse')) start('gatehouse', BASE, process.execPath, [join(root, 'dist', 'cli.js'), '--config', gCfg], openSync(join(dir, 'gatehouse.log'), 'w'));
    if (ONLY.includes('nginx')) {
      const nCfg = join(dir, 'nginx.conf');
      writeFileSync(nCfg, nginxConfig(BASE + 1, leaf, upstream));
      start('nginx', BASE + 1, 'nginx', ['-c', nCfg, '-p', dir, '-g', 'daemon off;']);
    }
    if (ONLY.includes('floor')) start('floor', BASE + 3, process.execPath, [join(root, 'bench', 'files-floor.mjs'), String(BASE + 3), leaf.fullchain, leaf.key, pub, upstream]);
    if (REF !== undefined) {
      const rCfg = join(dir, 'gatehouse-ref.yaml');
      writeFileSync(rCfg, gatehouseConfig(BASE + 4, leaf, upstream));
      start('ref', BASE + 4, process.execPath, [join(REF, 'dist', 'cli.js'), '--config', rCfg], openSync(join(dir, 'gatehouse-ref.log'), 'w'));
    }
    for (const t of targets) await waitTls(t.port);
    await sleep(300);
    const results = {};
    for (const [name, s] of Object.entries(SCENARIOS)) {
      // An uncounted warm-up per target and scenario: the first requests pay for JIT and caches.
      for (const t of targets) await load(t.port, { ...s, warm: true });
      for (let i = 0; i < RUNS; i++) {
        for (const t of ABBA && i % 2 === 1 ? [...targets].reverse() : targets) {
          const c0 = cpuNanos(t.pid);
          const r = await load(t.port, s);
          const cpu = (cpuNanos(t.pid) - c0) / 1000;
          const row = { usPerReq: cpu / Math.max(1, r.ops), msPerMb: cpu / 1000 / Math.max(1e-9, r.mb), reqPerS: r.ops / DURATION, mbPerS: r.mb / DURATION, errors: r.errors };
          ((results[name] ??= {})[t.name] ??= []).push(row);
          process.stderr.write(`  ${name} round ${i + 1}/${RUNS} ${t.name}: ${row.usPerReq.toFixed(1)} µs/req, ${row.msPerMb.toFixed(2)} ms/MB, ${Math.round(row.reqPerS)} req/s, errors ${r.errors}\n`);
        }
      }
    }
    writeFileSync(join(out, `files-results-${Date.now()}.json`), JSON.stringify(results, null, 2));
    const names = targets.map((t) => t.name);
    const pairs = [['gatehouse', 'nginx'], ['floor', 'nginx'], ['gatehouse', 'floor'], ['ref', 'nginx'], ['gatehouse', 'ref']].filter(([a, b]) => names.includes(a) && names.includes(b));
    const lines = [`| scenario | ${names.map((n) => `${n} µs/req`).join(' | ')} | ${names.map((n) => `${n} ms/MB`).join(' | ')} | ${pairs.map(([a, b]) => `${a} ÷ ${b} (median, min–max)`).join(' | ')} | req/s ${names.join(' / ')} | errors |`];
    lines.push(`|${' --- |'.repeat(2 * names.length + pairs.length + 3)}`);
    for (const [name, by] of Object.entries(results)) {
      const f = (xs, k, d = 1) => median(xs.map((x) => x[k])).toFixed(d);
      const ratio = ([a, b]) => {
        const rs = by[a].map((r, i) => r.usPerReq / by[b][i].usPerReq);
        return `${median(rs).toFixed(2)} (${Math.min(...rs).toFixed(2)}–${Math.max(...rs).toFixed(2)})`;
      };
      lines.push(`| ${name} | ${names.map((n) => f(by[n], 'usPerReq')).join(' | ')} | ${names.map((n) => f(by[n], 'msPerMb', 2)).join(' | ')} | ${pairs.map(ratio).join(' | ')} | ${names.map((n) => f(by[n], 'reqPerS', 0)).join(' / ')} | ${names.map((n) => by[n].reduce((a, r) => a + r.errors, 0)).join(' / ')} |`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    await sleep(500);
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    backend.close();
  }
}

await main();
