import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { basicConfig, startEdge, tempDir } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { deadPort, startBackend } from './helpers/net.js';
import { hasCommand, skipWithout } from './helpers/tools.js';

/*
 * The user-facing load tester (`npm run bench -- --url …`, bench/user.mjs) against an in-process
 * Gatehouse on loopback: thresholds and their exit codes, --compare, the open model's
 * coordinated-omission correction against a backend that stalls, --h2, and the HTML report
 * rendered by headless Chromium. Each load is a second or two, bounded by the tool's own
 * --duration and by a kill here.
 */
const USER = join(import.meta.dirname, '..', 'bench', 'user.mjs');
type Tap = Parameters<typeof tempDir>[0];

interface Latency { count: number; p50: number; p90: number; p99: number; max: number }
interface Summary {
  model: string; requests: number; reqPerS: number; sent: number; planned: number | null; shortfall: number;
  errors: Record<string, number>; errorRate: number; latencyMs: Latency; byClass: Record<string, Latency>;
  tls: { alpn: string | null }; hsts: string | null; generator: { cpuPercentOfOneCore: number; eventLoopBusy: number[] };
  timeline: { rps: number; errors: Record<string, number> }[];
}
interface Run { code: number | null; stdout: string; stderr: string; out: string; summary?: Summary; html?: string }

/** Run bench/user.mjs to completion (killed after 90 s); its JSON summary when it wrote one. */
async function load(t: Tap, args: readonly string[]): Promise<Run> {
  const out = tempDir(t, 'gatehouse-load-');
  const child = spawn(process.execPath, [USER, '--out', out, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const guard = setTimeout(() => child.kill('SIGKILL'), 90_000);
  const code = await new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  clearTimeout(guard);
  if (code === null) throw new Error(`bench/user.mjs ${args.join(' ')} did not finish in 90 s:\n${stderr}`);
  const files = readdirSync(out);
  const json = files.find((f) => f.endsWith('.json'));
  const html = files.find((f) => f.endsWith('.html'));
  return {
    code, stdout, stderr, out,
    ...(json ? { summary: JSON.parse(readFileSync(join(out, json), 'utf8')) as Summary } : {}),
    ...(html ? { html: join(out, html) } : {}),
  };
}

async function edgeAndBackend(t: Tap, handler?: Parameters<typeof startBackend>[1]): Promise<{ url: string; ca: string }> {
  const backend = await startBackend(t, handler ?? ((_req, res) => res.end('x'.repeat(100))));
  const { port, certs } = await startEdge(t, basicConfig([backend.address], 'log: { level: warn }'));
  return { url: `https://localhost:${port}/`, ca: certs.ca.cert };
}

t.test('--fail-on: exit 0 when every line holds, 1 naming the line that failed, 2 for a bad threshold', async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const ok = await load(t, ['--url', url, '--ca', ca, '--connections', '4', '--duration', '1s', '--fail-on', 'rps>0,errors<1%,p99<60s']);
  t.equal(ok.code, 0, ok.code === 0 ? 'exit 0' : ok.stderr);
  t.match(ok.stdout, /pass {2}rps>0 /);
  t.ok(ok.summary && ok.summary.requests > 0 && ok.summary.errorRate === 0, 'answers, no errors');
  t.equal(ok.summary?.hsts, 'max-age=31536000', 'HSTS seen');
  t.ok(ok.summary && ok.summary.byClass['2xx']?.count === ok.summary.requests, 'every answer in the 2xx histogram');

  // 1 µs is the histogram's floor: no p50 is ever below it.
  const bad = await load(t, ['--url', url, '--ca', ca, '--connections', '2', '--duration', '1s', '--fail-on', 'errors<1%,p50<0.0005ms']);
  t.equal(bad.code, 1, 'a failed threshold exits 1');
  t.match(bad.stdout, /FAIL {2}p50<0\.0005ms {2}\(actual [\d.]+ ms\)/);
  t.match(bad.stderr, /threshold failed: p50<0\.0005ms/);
  t.notMatch(bad.stderr, /threshold failed: .*errors/, 'only the failed line is named');

  const typo = await load(t, ['--url', url, '--ca', ca, '--duration', '1s', '--fail-on', 'p98<1ms']);
  t.equal(typo.code, 2, 'an unknown figure is refused before any load');
  t.match(typo.stderr, /unknown figure "p98"/);
  t.equal(typo.summary, undefined, 'no run happened');
});

t.test('--compare A.json B.json: the change of each figure with a verdict', async (t) => {
  const dir = tempDir(t);
  const a = { reqPerS: 1000, errorRate: 0, latencyMs: { p50: 1, p90: 2, p99: 10, 'p99.9': 20, max: 30 } };
  const b = { reqPerS: 1500, errorRate: 0.01, latencyMs: { p50: 1.01, p90: 2, p99: 25, 'p99.9': 20, max: 15 } };
  writeFileSync(join(dir, 'a.json'), JSON.stringify(a));
  writeFileSync(join(dir, 'b.json'), JSON.stringify(b));
  const r = spawnSync(process.execPath, [USER, '--compare', join(dir, 'a.json'), join(dir, 'b.json')], { encoding: 'utf8', timeout: 30_000 });
  t.equal(r.status, 0, r.stderr);
  t.match(r.stdout, /\| req\/s \| 1000 \| 1500 \| \+50\.0% \| better \|/);
  t.match(r.stdout, /\| p50 ms \| 1\.00 \| 1\.01 \| \+1\.0% \| same \|/, 'within 5% is the same');
  t.match(r.stdout, /\| p99 ms \| 10\.00 \| 25\.00 \| \+150\.0% \| worse \|/);
  t.match(r.stdout, /\| max ms \| 30\.00 \| 15\.00 \| -50\.0% \| better \|/);
  t.match(r.stdout, /\| errors \| 0\.000% \| 1\.000% \| – \| worse \|/);
  t.match(r.stdout, /verdict: worse on p99 ms, errors/);
});

t.test('open model: with a backend stalling 200 ms every second, p99 shows the stall; the closed loop hides it', async (t) => {
  // Straight to an HTTPS backend (no edge in between: the test measures the tool). Answers
  // arriving in the first 200 ms of each second wait until it ends, like a GC pause.
  const certs = await testCerts();
  const t0 = Date.now();
  const server = createHttpsServer({ cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, (_req, res) => {
    const phase = (Date.now() - t0) % 1000;
    if (phase < 200) setTimeout(() => res.end('x'.repeat(100)), 200 - phase);
    else res.end('x'.repeat(100));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { server.closeAllConnections(); server.close(); });
  const url = `https://localhost:${(server.address() as AddressInfo).port}/`;
  const ca = certs.ca.cert;
  const closed = await load(t, ['--url', url, '--ca', ca, '--connections', '1', '--duration', '3s']);
  const open = await load(t, ['--url', url, '--ca', ca, '--connections', '4', '--rate', '100', '--duration', '3s']);
  // One request outstanding at most: the rest wait in the client's backlog during the stall,
  // and only latency counted from the intended send time charges them that wait.
  const bounded = await load(t, ['--url', url, '--ca', ca, '--connections', '1', '--rate', '100', '--max-inflight', '1', '--duration', '3s']);
  for (const r of [closed, open, bounded]) t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  const c = closed.summary!;
  const o = open.summary!;
  const b = bounded.summary!;
  t.equal(o.model, 'open');
  t.equal(o.planned, 300, '100/s for 3 s');
  t.ok(o.latencyMs.p99 >= 150, `open p99 ${o.latencyMs.p99} ms reflects the 200 ms stall: ~20% of intended sends fall in it`);
  t.ok(b.latencyMs.p99 >= 150, `bounded open p99 ${b.latencyMs.p99} ms counts the backlog's wait from the intended time`);
  t.ok(c.latencyMs.max >= 100, `the closed loop met the stall too (max ${c.latencyMs.max} ms)`);
  t.ok(c.latencyMs.p99 < o.latencyMs.p99 / 2, `closed p99 ${c.latencyMs.p99} ms hides it: one request per stall, the rest never sent (coordinated omission)`);
});

t.test('--h2: multiplexed streams through the edge, ALPN h2, answers counted', async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const r = await load(t, ['--url', url, '--ca', ca, '--h2', '--connections', '2', '--pipelining', '8', '--duration', '1s']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  t.equal(r.summary?.tls.alpn, 'h2');
  t.ok(r.summary && r.summary.requests > 0, 'answers over h2');
  t.same(r.summary?.errors, {}, 'no errors');
  t.equal(r.summary?.hsts, 'max-age=31536000');
});

t.test('errors by kind and status class, in total and per second; a dead edge is refused before the run', async (t) => {
  let n = 0;
  const { url, ca } = await edgeAndBackend(t, (_req, res) => {
    res.statusCode = ++n % 2 === 0 ? 503 : 200;
    res.end('x');
  });
  const r = await load(t, ['--url', url, '--ca', ca, '--connections', '2', '--duration', '1s', '--fail-on', 'errors<1%']);
  t.equal(r.code, 1, 'half the answers are 503: errors<1% fails');
  const s = r.summary!;
  t.ok(s.byClass['2xx']!.count > 0 && s.byClass['5xx']!.count > 0, 'a histogram per status class');
  t.equal(s.errors['http 5xx'], s.byClass['5xx']!.count, '5xx answers counted as errors by kind');
  t.ok(Math.abs(s.errorRate - 0.5) < 0.1, `error rate ${s.errorRate} ≈ 0.5`);
  t.equal(s.timeline.reduce((a, x) => a + (x.errors['http 5xx'] ?? 0), 0), s.errors['http 5xx'], 'per second, the same errors');

  const dead = await load(t, ['--url', `https://localhost:${await deadPort()}/`, '--ca', ca, '--duration', '1s']);
  t.equal(dead.code, 2, 'nothing listening: exit 2 before any load');
  t.match(dead.stderr, /TLS to localhost:\d+ failed before the run \(ECONNREFUSED\)/);

  const refused = await load(t, ['--url', `https://localhost:${await deadPort()}/`, '--ca', ca, '--rate', '20', '--duration', '1s']);
  t.equal(refused.code, 0, 'the open model runs and counts what failed');
  t.ok((refused.summary?.errors.ECONNREFUSED ?? 0) > 0, `errors by kind: ${JSON.stringify(refused.summary?.errors)}`);
  t.equal(refused.summary?.errorRate, 1);
});

t.test('--stages ramps the open model\'s rate; a bad stage is refused', async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const r = await load(t, ['--url', url, '--ca', ca, '--stages', '1s:40,1s:120', '--connections', '4']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  const s = r.summary!;
  t.equal(s.model, 'open');
  t.equal(s.planned, 100, '0→40/s over 1 s (20) then 40→120/s over 1 s (80)');
  t.equal(s.sent + s.shortfall, 100, 'every planned request sent or counted as shortfall');
  const bad = await load(t, ['--url', url, '--ca', ca, '--stages', '10s-100']);
  t.equal(bad.code, 2);
  t.match(bad.stderr, /bad stage "10s-100"/);
});

const CHROMIUM = ['chromium', 'chromium-browser'].find(hasCommand);
t.test('the HTML report renders in headless Chromium: charts drawn, figures equal to the JSON, nothing fetched', { skip: skipWithout(CHROMIUM !== undefined, 'chromium not installed') }, async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const r = await load(t, ['--url', url, '--ca', ca, '--connections', '2', '--workers', '2', '--duration', '2s']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  const s = r.summary!;
  const profile = tempDir(t, 'gatehouse-chromium-');
  const dump = spawnSync(CHROMIUM ?? 'chromium', ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', `--user-data-dir=${profile}`, '--dump-dom', `file://${r.html}`], { encoding: 'utf8', timeout: 60_000, env: { ...process.env, HOME: profile } });
  t.equal(dump.status, 0, dump.status === 0 ? 'chromium dumped the DOM' : dump.stderr.slice(-2000));
  const dom = dump.stdout;
  t.match(dom, /data-rendered="yes"/, 'the inline script ran to its end');
  for (const id of ['histogram', 'percentiles', 'throughput', 'errors']) t.match(dom, new RegExp(`<svg[^>]*id="${id}"`), `chart ${id} drawn`);
  t.ok((dom.match(/<rect class="bar"/g) ?? []).length >= s.timeline.length, 'histogram and throughput bars drawn');
  t.ok((dom.match(/<polyline class="series"/g) ?? []).length >= 4, 'percentile lines drawn');
  const cell = (key: string): string | undefined => new RegExp(`data-figure="${key.replace('.', '\\.')}"[^>]*>([^<]*)<`).exec(dom)?.[1];
  t.equal(cell('reqPerS'), String(s.reqPerS));
  t.equal(cell('requests'), String(s.requests));
  for (const k of ['p50', 'p90', 'p99', 'max'] as const) t.equal(cell(`latencyMs.${k}`), String(s.latencyMs[k]), `${k} as in the JSON`);
  t.equal(cell('hsts'), s.hsts);
  t.notMatch(dom, /(src|href)="(https?:)?\/\//, 'no resource from the network');
  t.match(readFileSync(r.html!, 'utf8'), /Content-Security-Policy" content="default-src 'none'/, 'and the page may fetch none');
});
