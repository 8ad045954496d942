// SVG charts as strings, from a run's summary. One factory with no outside references, so the
// HTML report can inline its source (`charts.toString()`) and draw the same charts in the
// browser from the embedded JSON, with no network fetch and no library.
export function charts() {
  const esc = (t) => String(t).replace(/[<&>"]/g, (c) => ({ '<': '&lt;', '&': '&amp;', '>': '&gt;', '"': '&quot;' }[c]));
  const W = 900, H = 300, P = 56;
  const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
  const frame = (id, title, maxY, unit, n, body, legend) => `<svg xmlns="http://www.w3.org/2000/svg" id="${id}" class="chart" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">
<rect width="100%" height="100%" fill="white"/><text x="${P}" y="18" font-size="14">${esc(title)}</text>
${body}
<line x1="${P}" y1="${H - P}" x2="${W - P}" y2="${H - P}" stroke="black"/><line x1="${P}" y1="${P}" x2="${P}" y2="${H - P}" stroke="black"/>
<text x="${P - 4}" y="${P + 4}" text-anchor="end">${fmt(maxY)}</text><text x="${P - 4}" y="${H - P}" text-anchor="end">0</text><text x="4" y="${H / 2}">${esc(unit)}</text>
<text x="${W - P}" y="${H - P + 18}" text-anchor="end">${esc(n)}</text>
<text x="${W - P}" y="${P - 16}" text-anchor="end">${legend.map(([name, color]) => `<tspan fill="${color}">■ ${esc(name)}</tspan>`).join(' ')}</text>
</svg>`;
  const x = (i, n) => P + (i / Math.max(1, n - 1)) * (W - 2 * P);
  const y = (v, max) => H - P - (v / max) * (H - 2 * P);
  const line = (vals, max, color, name) => `<polyline class="series" data-name="${esc(name)}" fill="none" stroke="${color}" stroke-width="2" points="${vals.map((v, i) => `${x(i, vals.length).toFixed(1)},${y(v ?? 0, max).toFixed(1)}`).join(' ')}"/>`;
  const bars = (vals, max, color, n = vals.length) => vals.map((v, i) => {
    const w = Math.max(2, (W - 2 * P) / Math.max(1, n) - 2);
    const left = P + (i / Math.max(1, n)) * (W - 2 * P);
    return `<rect class="bar" x="${left.toFixed(1)}" y="${y(v, max).toFixed(1)}" width="${w.toFixed(1)}" height="${(H - P - y(v, max)).toFixed(1)}" fill="${color}"/>`;
  }).join('');
  const top = (vals) => Math.max(1e-9, ...vals.filter((v) => v !== null && Number.isFinite(v))) * 1.1;
  const COLORS = ['#c0392b', '#8e44ad', '#d35400', '#16a085', '#7f8c8d'];

  return {
    /** Latency histogram: the count in each log-spaced bucket. */
    histogram(s) {
      const rows = s.histogram ?? [];
      const max = top(rows.map((r) => r[1]));
      const labels = rows.filter((_, i) => i % 8 === 7).map((r, j) => `<text x="${(P + ((j * 8 + 8) / rows.length) * (W - 2 * P)).toFixed(1)}" y="${H - P + 18}" text-anchor="end">≤${fmt(r[0])} ms</text>`).join('');
      return frame('histogram', `Latency histogram — ${s.latencyMs.count} answers`, max / 1.1, 'answers', '', bars(rows.map((r) => r[1]), max, '#2a7ab0') + labels, [['answers per bucket', '#2a7ab0']]);
    },
    /** p50/p90/p99/max per second. */
    percentiles(s) {
      const t = s.timeline ?? [];
      const names = [['p50', '#2a7ab0'], ['p90', '#27ae60'], ['p99', '#c0392b'], ['max', '#999']];
      const max = top(t.flatMap((r) => names.map(([n]) => r[n])));
      return frame('percentiles', 'Latency percentiles per second (ms)', max / 1.1, 'ms', `${t.length} s`, names.map(([n, c]) => line(t.map((r) => r[n]), max, c, n)).join(''), names);
    },
    /** Answers per second (bars), and requests sent per second (line). */
    throughput(s) {
      const t = s.timeline ?? [];
      const max = top(t.flatMap((r) => [r.rps, r.sent]));
      return frame('throughput', `Throughput — ${s.reqPerS} answers/s overall`, max / 1.1, 'req/s', `${t.length} s`, bars(t.map((r) => r.rps), max, '#9ab') + line(t.map((r) => r.sent), max, '#2c3e50', 'sent'), [['answers/s', '#9ab'], ['sent/s', '#2c3e50']]);
    },
    /** Errors per second, one line per kind. */
    errors(s) {
      const t = s.timeline ?? [];
      const kinds = [...new Set(t.flatMap((r) => Object.keys(r.errors)))];
      const max = top(t.flatMap((r) => Object.values(r.errors)).concat([1]));
      const legend = kinds.length === 0 ? [['no errors', '#27ae60']] : kinds.map((k, i) => [k, COLORS[i % COLORS.length]]);
      return frame('errors', 'Errors per second, by kind', max / 1.1, 'errors', `${t.length} s`, kinds.map((k, i) => line(t.map((r) => r.errors[k] ?? 0), max, COLORS[i % COLORS.length], k)).join(''), legend);
    },
  };
}
