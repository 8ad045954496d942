// The closed model over HTTP/1.1 on autocannon, which costs the least client CPU per request of
// the engines measured (bench/RESULTS.md, "The load tester's own engine": ~4× less than undici's
// Pool, whose every request is its own TLS write). Each answer autocannon reports is recorded in
// our own histograms (stats.mjs), so its figures read the same as the undici engine's.
// autocannon connects with rejectUnauthorized: false; user.mjs verifies the chain with --ca on
// its TLS probe first and refuses to load an edge whose certificate it cannot verify.
import autocannon from 'autocannon';
import { makeRecorder } from './stats.mjs';

export async function runAutocannon(o) {
  const url = new URL(o.url);
  const rec = makeRecorder();
  const elu0 = performance.eventLoopUtilization();
  const started = performance.now();
  let second = 0;
  let stopping = false;
  const ticker = setInterval(() => o.onSecond?.(second++, rec.second()), 1000);
  const instance = autocannon({
    url: url.href,
    connections: o.connections,
    pipelining: o.pipelining,
    duration: o.seconds,
    timeout: Math.max(1, Math.round(o.timeoutMs / 1000)),
    headers: { 'user-agent': 'gatehouse-bench' },
    servername: o.servername ?? url.hostname,
    tlsOptions: { ...(o.ca ? { ca: o.ca } : {}), ALPNProtocols: ['http/1.1'] },
  });
  instance.on('response', (_client, status, _bytes, ms) => {
    if (stopping) return;
    rec.sent();
    rec.answer(status, ms * 1000);
  });
  instance.on('reqError', (err) => {
    if (stopping) return;
    rec.sent();
    rec.error(err.code ?? (/timed out/.test(err.message) ? 'timeout' : err.message));
  });
  await instance;
  stopping = true;
  clearInterval(ticker);
  const last = rec.second();
  if (last.sent > 0) o.onSecond?.(second++, last);
  const total = rec.total();
  return {
    total, sent: total.sent, planned: null, shortfall: 0, unfinished: 0,
    elapsedS: (performance.now() - started) / 1000,
    elu: performance.eventLoopUtilization(elu0).utilization,
    hsts: null,
  };
}
