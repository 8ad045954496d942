import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { tempDir, HSTS } from './helpers/edge.js';
import { edgeAndBackend, load, USER } from './helpers/load.js';
import { deadPort } from './helpers/net.js';

/*
 * The user-facing load tester (`npm run bench -- --url …`, bench/user.mjs) against an in-process
 * Gatehouse on loopback: thresholds and their exit codes, --compare, --h2, errors by kind and
 * status class, --stages. Each load is a second or two, bounded by the tool's own --duration and
 * by a kill (test/helpers/load.ts). The open model's correction: load-open-model.test.ts; the
 * HTML report in Chromium: load-report.test.ts.
 */
t.test('--fail-on: exit 0 when every line holds, 1 naming the line that failed, 2 for a bad threshold', async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const ok = await load(t, ['--url', url, '--ca', ca, '--connections', '4', '--duration', '1s', '--fail-on', 'rps>0,errors<1%,p99<60s']);
  t.equal(ok.code, 0, ok.code === 0 ? 'exit 0' : ok.stderr);
  t.match(ok.stdout, /pass {2}rps>0 /);
  t.ok(ok.summary && ok.summary.requests > 0 && ok.summary.errorRate === 0, 'answers, no errors');
  t.equal(ok.summary?.hsts, HSTS, 'HSTS seen');
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

t.test('--h2: multiplexed streams through the edge, ALPN h2, answers counted', async (t) => {
  const { url, ca } = await edgeAndBackend(t);
  const r = await load(t, ['--url', url, '--ca', ca, '--h2', '--connections', '2', '--pipelining', '8', '--duration', '1s']);
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr);
  t.equal(r.summary?.tls.alpn, 'h2');
  t.ok(r.summary && r.summary.requests > 0, 'answers over h2');
  t.same(r.summary?.errors, {}, 'no errors');
  t.equal(r.summary?.hsts, HSTS);
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
