#!/usr/bin/env node
// `node bench/engines.mjs [--ref fbc6591] [--seconds 15] [--rounds 3]`:
// how fast can the load tester itself go? nginx answers 100 bytes by itself over TLS 1.3 on
// loopback (one worker, core 0), and each client runs on the last core, interleaved round by
// round: the old user.mjs (Node's https.request, taken from git REF) and the new one on each of
// its engines: autocannon (the closed-model default) and undici, h1 and h2. Figures: answers/s
// and the client's own CPU per answer (/proc utime+stime): on a shared machine req/s drifts,
// CPU per answer is the steadier figure.
// Each run's CPU includes the tool's start (Node, modules, TLS probe: 0.5–1 s), hence 15 s runs.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../scripts/certs.mjs';
import { http2Syntax } from './nginx.mjs';
import { LOAD_CORE, cpuMicros, have, median, options, pinned, root, sleep, waitTls } from './lib.mjs';

const { opt } = options(process.argv.slice(2));
const REF = opt('ref', 'fbc6591');
const SECONDS = Number(opt('seconds', '15'));
const ROUNDS = Math.min(10, Number(opt('rounds', '3')));
const PORT = Number(opt('port', '18900'));
if (!have('nginx')) throw new Error('nginx is needed (apt-get install nginx)');

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-engines-'));
const ca = makeCa(dir, { name: 'engines CA' });
const leaf = makeLeaf(dir, { ca, sans: ['localhost', '127.0.0.1'] });
const server = (listen, h2) => `server { listen 127.0.0.1:${listen} ${h2 ? http2Syntax().listen : 'ssl'}; ${h2 ? http2Syntax().directive : ''} ssl_certificate ${leaf.fullchain}; ssl_certificate_key ${leaf.key}; ssl_protocols TLSv1.3;
  add_header Strict-Transport-Security "max-age=31536000" always; location / { return 200 "${'x'.repeat(100)}"; } }`;
writeFileSync(join(dir, 'nginx.conf'), `worker_processes 1; pid ${dir}/nginx.pid; error_log ${dir}/error.log warn; events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path ${dir}; proxy_temp_path ${dir}; fastcgi_temp_path ${dir}; uwsgi_temp_path ${dir}; scgi_temp_path ${dir};
${server(PORT, false)}
${server(PORT + 1, true)} }`);
const [ncmd, nargs] = pinned(0, 'nginx', ['-c', join(dir, 'nginx.conf'), '-p', dir, '-g', 'daemon off;']);
const nginx = spawn(ncmd, nargs, { stdio: 'inherit' });
await waitTls(PORT);

// The old tester, as it was at REF, beside the current one so its relative imports resolve.
const old = join(root, 'bench', `.user-${REF}.tmp.mjs`);
writeFileSync(old, execFileSync('git', ['-C', root, 'show', `${REF}:bench/user.mjs`]));
const url = `https://localhost:${PORT}/`;
const common = ['--ca', ca.cert, '--duration', `${SECONDS}s`];
const user = (...args) => [process.execPath, [join(root, 'bench', 'user.mjs'), ...args, ...common]];
const engines = {
  'old: https.request c50': [process.execPath, [old, '--url', url, '--connections', '50', ...common]],
  'new: autocannon c50': user('--url', url, '--connections', '50'),
  'new: autocannon c50 p10': user('--url', url, '--connections', '50', '--pipelining', '10'),
  'new: undici c50 p10': user('--url', url, '--engine', 'undici', '--connections', '50', '--pipelining', '10'),
  'new: undici h2 c10 m10': user('--url', `https://localhost:${PORT + 1}/`, '--h2', '--connections', '10', '--pipelining', '10'),
};

/** One bounded run of one client on the load core: answers, and its CPU in µs. */
async function once(name, [cmd, args]) {
  const out = mkdtempSync(join(dir, 'out-'));
  const [c, a] = pinned(LOAD_CORE, cmd, [...args, '--out', out]);
  const child = spawn(c, a, { stdio: ['ignore', 'ignore', 'ignore'] });
  let cpu = 0;
  // Sample while it runs: after exit /proc no longer has it.
  const sampler = setInterval(() => { cpu = Math.max(cpu, cpuMicros(child.pid)); }, 100);
  const guard = setTimeout(() => child.kill('SIGKILL'), (SECONDS + 30) * 1000);
  await new Promise((r) => child.on('exit', r));
  clearInterval(sampler);
  clearTimeout(guard);
  const answers = JSON.parse(readFileSync(join(out, readdirSync(out).find((f) => f.endsWith('.json'))), 'utf8')).requests;
  return { answers, rate: answers / SECONDS, cpuUsPerAnswer: cpu / Math.max(1, answers) };
}

const results = {};
try {
  for (let i = 0; i < ROUNDS; i++) {
    for (const [name, spec] of Object.entries(engines)) {
      const r = await once(name, spec);
      (results[name] ??= []).push(r);
      process.stderr.write(`round ${i + 1}/${ROUNDS} ${name}: ${Math.round(r.rate)} answers/s, client ${r.cpuUsPerAnswer.toFixed(1)} µs CPU/answer\n`);
      await sleep(300);
    }
  }
} finally {
  rmSync(old, { force: true });
  nginx.kill('SIGTERM');
}
const base = median(results['old: https.request c50'].map((r) => r.cpuUsPerAnswer));
console.log(`| client (${ROUNDS} rounds × ${SECONDS} s, nginx on core 0, client on core ${LOAD_CORE}) | answers/s (median, min–max) | client CPU µs/answer | answers per client CPU-second ÷ old |`);
console.log('| --- | --- | --- | --- |');
for (const [name, rs] of Object.entries(results)) {
  const rates = rs.map((r) => r.rate);
  const cpu = median(rs.map((r) => r.cpuUsPerAnswer));
  console.log(`| ${name} | ${Math.round(median(rates))} (${Math.round(Math.min(...rates))}–${Math.round(Math.max(...rates))}) | ${cpu.toFixed(1)} | ${(base / cpu).toFixed(2)} |`);
}
await sleep(500);
rmSync(dir, { recursive: true, force: true });
