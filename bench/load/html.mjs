// The report people read: one self-contained HTML file. The summary JSON is embedded, and an
// inline script draws the charts (charts.mjs's own source) and fills the figures from it. A
// Content-Security-Policy of `default-src 'none'` means the page can fetch nothing at all.
import { charts } from './charts.mjs';

const esc = (t) => String(t).replace(/[<&>"]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;' }[c]));

export function htmlReport(summary) {
  // `<` escaped so no string in the data can close the <script> element.
  const data = JSON.stringify(summary).replace(/</g, '\\u003c');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'">
<title>Load report — ${esc(summary.url)}</title>
<style>
body { font: 14px/1.4 sans-serif; margin: 2em auto; max-width: 960px; color: #222 }
table { border-collapse: collapse; margin: 1em 0 } td, th { border: 1px solid #ccc; padding: 2px 8px; text-align: left }
td.num { text-align: right; font-variant-numeric: tabular-nums } .verdict { padding: .5em 1em; background: #fdf2e9; border-left: 4px solid #d35400 }
</style></head>
<body>
<h1>Load report</h1>
<p id="target"></p>
<p class="verdict" id="limit"></p>
<h2>Figures</h2><table id="figures"><tbody></tbody></table>
<h2>Latency by status class</h2><table id="classes"><thead><tr><th>class</th><th>answers</th><th>p50</th><th>p90</th><th>p99</th><th>p99.9</th><th>max</th></tr></thead><tbody></tbody></table>
<div id="charts"></div>
<h2>TLS and HSTS</h2><table id="tls"><tbody></tbody></table>
<h2>Settings</h2><table id="settings"><tbody></tbody></table>
<script type="application/json" id="data">${data}</script>
<script>
const charts = (${charts.toString()})();
const s = JSON.parse(document.getElementById('data').textContent);
const text = (el, t) => { el.textContent = t; return el; };
const row = (table, label, value, key) => {
  const tr = document.createElement('tr');
  tr.append(text(document.createElement('th'), label));
  const td = text(document.createElement('td'), value === null || value === undefined ? '–' : String(value));
  if (key) td.dataset.figure = key;
  if (typeof value === 'number') td.className = 'num';
  tr.append(td);
  document.querySelector('#' + table + ' tbody').append(tr);
};
text(document.getElementById('target'), s.url + (s.ws ? ' and ' + s.ws : '') + ' — ' + s.model + ' model, ' + s.durationS + ' s');
text(document.getElementById('limit'), s.limit);
row('figures', 'answers/s', s.reqPerS, 'reqPerS');
row('figures', 'answers', s.requests, 'requests');
row('figures', 'sent', s.sent, 'sent');
if (s.planned !== null) { row('figures', 'planned (open model)', s.planned, 'planned'); row('figures', 'shortfall (due, never sent)', s.shortfall, 'shortfall'); }
row('figures', 'error rate', s.errorRate, 'errorRate');
for (const [k, v] of Object.entries(s.errors)) row('figures', 'errors: ' + k, v, 'errors.' + k);
for (const k of ['p50', 'p90', 'p99', 'p99.9', 'max', 'mean']) row('figures', k + ' ms', s.latencyMs[k], 'latencyMs.' + k);
row('figures', 'generator CPU (% of one core)', s.generator.cpuPercentOfOneCore, 'generator.cpuPercentOfOneCore');
row('figures', 'generator event loop busy', s.generator.eventLoopBusy.join(', '), 'generator.eventLoopBusy');
if (s.websockets) for (const [k, v] of Object.entries(s.websockets)) row('figures', 'WebSockets ' + k, v, 'websockets.' + k);
for (const [c, l] of Object.entries(s.byClass)) {
  const tr = document.createElement('tr');
  for (const v of [c, l.count, l.p50, l.p90, l.p99, l['p99.9'], l.max]) tr.append(text(document.createElement('td'), String(v)));
  tr.dataset.class = c;
  document.querySelector('#classes tbody').append(tr);
}
for (const [k, v] of Object.entries(s.tls)) row('tls', k, v, 'tls.' + k);
row('tls', 'Strict-Transport-Security', s.hsts, 'hsts');
for (const [k, v] of Object.entries(s.settings)) row('settings', k, v, 'settings.' + k);
document.getElementById('charts').innerHTML = ['histogram', 'percentiles', 'throughput', 'errors'].map((c) => charts[c](s)).join('\\n');
document.body.dataset.rendered = 'yes';
</script>
</body></html>
`;
}
