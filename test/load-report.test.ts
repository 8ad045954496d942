import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { tempDir } from './helpers/edge.js';
import { edgeAndBackend, load } from './helpers/load.js';
import { hasCommand, skipWithout } from './helpers/tools.js';

/*
 * The load tester's self-contained HTML report, opened by Debian's headless Chromium
 * (`--dump-dom`): the inline script ran, the charts are drawn, the figures are the JSON's, and
 * the page names no network resource (its CSP, `default-src 'none'`, would refuse one anyway).
 */
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
