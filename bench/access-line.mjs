#!/usr/bin/env node
// `node bench/access-line.mjs [--rounds 8] [--n 200000]` (after `npm run build`): a proxied
// request's access line alone, CPU ns per line, written into a stream that keeps nothing, three
// ways interleaved (A B C, C B A, …): the fields object through `log.info(fields, 'request')`
// and the access hook (what logExchange did before src/access-line.ts, and still does when the
// writer declines), the writer from the exchange's values (src/access-line.ts), and the writer
// with no line at all (`log.level: warn`: the call alone). JSON and combined; the per-round
// ratio writer ÷ pino path is reported as median (min–max).
import { parseArgs } from 'node:util';
import { createLogging } from '../dist/log.js';
import { REQUEST_HEADERS } from '../dist/access-log.js';

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '8' }, n: { type: 'string', default: '200000' } } });
const n = Number(values.n);
const sink = { write: () => undefined };

const exchanges = Array.from({ length: 64 }, (_, i) => ({
  method: 'GET', protocol: i % 2 === 0 ? 'http/1.1' : 'h2', host: 'localhost', clientPath: `/items/${i}?page=2`, clientIp: '127.0.0.1', bytes: 100 + i,
  requestId: undefined, headers: { host: 'localhost', 'user-agent': 'h2load nghttp2/1.52.0', accept: '*/*' },
}));
const durations = exchanges.map((_, i) => Math.round((0.37 + i * 0.113) * 100) / 100);

/** logExchange's old body: the fields object and pino's call. */
function viaPino(log, x, durationMs) {
  const fields = { method: x.method, protocol: x.protocol, host: x.host, path: x.clientPath, status: 200, durationMs, clientIp: x.clientIp, target: '127.0.0.1:9000', bytes: x.bytes };
  fields[REQUEST_HEADERS] = x.headers;
  log.info(fields, 'request');
}

function measure(run) {
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) run(exchanges[i & 63], durations[i & 63]);
  const used = process.cpuUsage(start);
  return ((used.user + used.system) * 1000) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
for (const access of ['json', 'combined']) {
  const { log, exchangeLine } = createLogging({ level: 'info', format: 'json', access }, sink);
  const quiet = createLogging({ level: 'warn', format: 'json', access }, sink).exchangeLine;
  const ways = {
    'pino path': (x, d) => viaPino(log, x, d),
    writer: (x, d) => exchangeLine(x, 200, d, '127.0.0.1:9000', false, undefined),
    'no line (warn)': (x, d) => quiet(x, 200, d, '127.0.0.1:9000', false, undefined),
  };
  const names = Object.keys(ways);
  const got = Object.fromEntries(names.map((k) => [k, []]));
  for (const k of names) measure(ways[k]);
  for (let r = 0; r < Number(values.rounds); r++) {
    for (const k of r % 2 === 0 ? names : [...names].reverse()) got[k].push(measure(ways[k]));
  }
  const ratios = got.writer.map((w, i) => w / got['pino path'][i]);
  console.log(`log.access ${access}: ns per line, median (min–max) of ${values.rounds} rounds × ${n}`);
  for (const k of names) console.log(`  ${k.padEnd(15)} ${median(got[k]).toFixed(0)} (${Math.min(...got[k]).toFixed(0)}–${Math.max(...got[k]).toFixed(0)})`);
  console.log(`  writer ÷ pino path per round: ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`);
}
