// A proxied request's access line is written from the exchange's values (src/access-line.ts),
// without a fields object or a pino call: these check it writes the very bytes pino writes for
// the fields logExchange used to log (and combinedFormatter writes under `log.access: combined`),
// for every ASCII byte in every text field and every kind of number, and that it declines what
// it does not take so pino writes it.
import type { IncomingHttpHeaders } from 'node:http';
import { pino, type DestinationStream } from 'pino';
import t from 'tap';
import { hundredths, type ExchangeFacts, type LineError } from '../src/access-line.js';
import { REQUEST_HEADERS } from '../src/access-log.js';
import { createLogger, createLogging } from '../src/log.js';
import { Metrics } from '../src/admin/metrics.js';
import { EdgeError } from '../src/errors.js';
import type { ClientResponse } from '../src/http/message.js';
import { logExchange } from '../src/pipeline/request.js';
import type { Exchange } from '../src/proxy/forward.js';

/** A stream that keeps every line. */
function lines(): DestinationStream & { readonly got: string[] } {
  const got: string[] = [];
  return { got, write: (s: string) => { got.push(s); } };
}

const sameTime = (line: string): string => line.replace(/,"time":"[^"]*"/, ',"time":"T"');

interface Line {
  facts: ExchangeFacts;
  status: number;
  durationMs: number;
  target: string | null;
  aborted: boolean;
  error: LineError | undefined;
}

const base: Line = {
  facts: { method: 'GET', protocol: 'http/1.1', host: 'localhost', clientPath: '/a?b=c', clientIp: '127.0.0.1', bytes: 100, requestId: undefined, headers: { host: 'localhost' } },
  status: 200, durationMs: 1.25, target: '127.0.0.1:9000', aborted: false, error: undefined,
};

/** The fields object logExchange logged through pino before the writer, in its order. */
function fieldsOf(l: Line): object {
  const f: Record<string | symbol, unknown> = {
    method: l.facts.method, protocol: l.facts.protocol, host: l.facts.host, path: l.facts.clientPath, status: l.status, durationMs: l.durationMs,
    clientIp: l.facts.clientIp, target: l.target, bytes: l.facts.bytes,
  };
  if (l.aborted) f.aborted = true;
  if (l.error !== undefined) {
    f.err = l.error.message;
    f.code = l.error.code;
  }
  if (l.facts.requestId !== undefined) f.requestId = l.facts.requestId;
  f[REQUEST_HEADERS] = l.facts.headers;
  return f;
}

/**
 * One line written by the writer, by pino with no hook, and by `log.info(fields, 'request')`
 * through the edge's logger (its access hook, jsonAccessFormatter: what was written before).
 */
function both(l: Line): [string, string, boolean, string] {
  for (const out of [ours, theirs, before]) out.got.length = 0;
  const took = writer.exchangeLine(l.facts, l.status, l.durationMs, l.target, l.aborted, l.error);
  plain.info(fieldsOf(l), 'request');
  hooked.info(fieldsOf(l), 'request');
  return [sameTime(ours.got.join('')), theirs.got.join(''), took, sameTime(before.got.join(''))];
}
const ours = lines();
const theirs = lines();
const before = lines();
const writer = createLogging({ level: 'info', format: 'json', access: 'json' }, ours);
const plain = pino({ level: 'info', base: { pid: process.pid }, timestamp: () => ',"time":"T"' }, theirs);
const hooked = createLogger({ level: 'info', format: 'json', access: 'json' }, before);

/** `line` with one text value replaced. */
function withText(field: string, v: string): Line {
  switch (field) {
    case 'target': return { ...base, target: v };
    case 'err': return { ...base, error: { message: v, code: 'EDGE_ERR_UPSTREAM_CONNECT' } };
    case 'code': return { ...base, error: { message: 'refused', code: v } };
    default: return { ...base, facts: { ...base.facts, [field]: v } };
  }
}

const TEXT_FIELDS = ['method', 'protocol', 'host', 'clientPath', 'clientIp', 'requestId', 'target', 'err', 'code'];

t.test('a proxied request line is byte for byte what pino writes', async (t) => {
  const [ours, theirs, took] = both(base);
  t.ok(took, 'the writer took the line');
  t.equal(ours, theirs);
  t.match(ours, /^\{"level":30,"time":"T","pid":\d+,"method":"GET","protocol":"http\/1.1","host":"localhost","path":"\/a\?b=c","status":200,"durationMs":1.25,"clientIp":"127.0.0.1","target":"127.0.0.1:9000","bytes":100,"msg":"request"\}\n$/);
});

t.test('every ASCII byte, alone and inside plain text, in every text field', async (t) => {
  let checked = 0;
  for (const field of TEXT_FIELDS) {
    for (let c = 0; c < 0x80; c++) {
      const ch = String.fromCharCode(c);
      for (const v of [ch, `/a${ch}b`, `${ch}/tail`]) {
        const [ours, theirs, took, before] = both(withText(field, v));
        if (!took || ours !== theirs || ours !== before) t.fail(`${field} byte 0x${c.toString(16)} in ${JSON.stringify(v)}: ${ours} != ${theirs}`);
        checked++;
      }
    }
  }
  t.equal(checked, TEXT_FIELDS.length * 128 * 3, 'all 128 bytes in three positions of each field');
});

t.test('latin1, non-ASCII, long and empty text as pino escapes them', async (t) => {
  for (const v of ['', '/caf\u00e9', '/\u00ff\u0080', '/emoji\u{1f600}', '/del\u007f', 'x'.repeat(150) + '"', '\\'.repeat(50)]) {
    for (const field of TEXT_FIELDS) {
      const [ours, theirs, , before] = both(withText(field, v));
      t.equal(ours, theirs, `${field} ${JSON.stringify(v)}`);
      t.equal(ours, before);
    }
  }
});

t.test('a lone surrogate is escaped as before (JSON.stringify), where pino would write it raw', async (t) => {
  // Not reachable from the wire (Node decodes h1 and h2 text as latin1); pinned so it does not drift.
  for (const v of ['/lone\ud800', '/lone\udc00x']) {
    for (const field of TEXT_FIELDS) {
      const [ours, , , before] = both(withText(field, v));
      t.equal(ours, before, `${field} ${JSON.stringify(v)}`);
      t.match(ours, /\\ud[8c]00/);
    }
  }
});

t.test('numbers of every kind, null target, aborted, error and requestId in the line\'s order', async (t) => {
  const numbers = [0, -0, 1, 499, 0.01, 0.1, 1.5, 12.34, 99999.99, 1e21, 1.7976931348623157e308, 5e-324, -1, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY];
  for (const n of numbers) {
    for (const l of [{ ...base, status: n }, { ...base, durationMs: n }, { ...base, facts: { ...base.facts, bytes: n } }]) {
      const [ours, theirs, , before] = both(l);
      t.equal(ours, theirs, String(n));
      t.equal(ours, before);
    }
  }
  for (const target of [null, 'files']) {
    for (const aborted of [false, true]) {
      for (const error of [undefined, { message: 'connect ECONNREFUSED', code: 'EDGE_ERR_UPSTREAM_CONNECT' }]) {
        for (const requestId of [undefined, 'abc-123']) {
          const [ours, theirs, , before] = both({ ...base, target, aborted, error, facts: { ...base.facts, protocol: 'h2', requestId } });
          t.equal(ours, theirs, JSON.stringify({ target, aborted, error, requestId }));
          t.equal(ours, before);
        }
      }
    }
  }
  const [ours] = both({ ...base, target: null, aborted: true, error: { message: 'm', code: 'C' }, facts: { ...base.facts, requestId: 'r' } });
  t.match(ours, /"target":null,"bytes":100,"aborted":true,"err":"m","code":"C","requestId":"r","msg":"request"\}\n$/);
});

t.test('the time is the logger\'s ISO time of now', async (t) => {
  const out = lines();
  const before = Date.now();
  createLogging({ level: 'info', format: 'json', access: 'json' }, out).exchangeLine(base.facts, 200, 1, null, false, undefined);
  const time = /,"time":"([^"]+)"/.exec(out.got[0] ?? '')?.[1] ?? '';
  t.equal(new Date(time).toISOString(), time, 'toISOString() form');
  t.ok(Date.parse(time) >= before && Date.parse(time) <= Date.now(), 'of this millisecond');
});

t.test('log.level above info writes nothing; log.format pretty and a value off its type are left to pino', async (t) => {
  const quiet = lines();
  t.ok(createLogging({ level: 'warn', format: 'json', access: 'json' }, quiet).exchangeLine(base.facts, 200, 1, null, false, undefined), 'taken: nothing to write');
  t.ok(createLogging({ level: 'silent', format: 'json', access: 'combined' }, quiet).exchangeLine(base.facts, 200, 1, null, false, undefined));
  t.same(quiet.got, []);

  const pretty = createLogging({ level: 'info', format: 'pretty', access: 'json' });
  t.notOk(pretty.exchangeLine(base.facts, 200, 1, null, false, undefined), 'pino-pretty prints it');

  const odd = lines();
  const { exchangeLine } = createLogging({ level: 'info', format: 'json', access: 'json' }, odd);
  const off = [
    { ...base.facts, method: undefined }, { ...base.facts, host: 7 }, { ...base.facts, clientPath: { a: 1 } }, { ...base.facts, bytes: '5' }, { ...base.facts, requestId: null },
  ] as unknown as ExchangeFacts[];
  for (const facts of off) t.notOk(exchangeLine(facts, 200, 1, null, false, undefined), JSON.stringify(facts));
  t.notOk(exchangeLine(base.facts, 200, 1, 5 as unknown as string, false, undefined), 'a numeric target');
  t.notOk(exchangeLine(base.facts, 200, 1, null, false, { message: 'm' } as LineError), 'an error with no code');
  t.same(odd.got, [], 'a declined line is not half written');
});

t.test('log.access combined: the same line combinedFormatter writes for the same fields', async (t) => {
  const headerSets: IncomingHttpHeaders[] = [
    {},
    { referer: 'https://a.example/x', 'user-agent': 'curl/8.0', authorization: `Basic ${Buffer.from('ann:pw').toString('base64')}` },
    { referer: 'bad"ref\\\x01\u00e9', 'user-agent': '', authorization: 'Bearer x' },
  ];
  const cases: Line[] = [base, { ...base, facts: { ...base.facts, protocol: 'h2', clientPath: '/q"\x7f\u00ff', clientIp: '::1' }, status: 502, target: null, aborted: true, error: { message: 'm', code: 'C' } }];
  for (const headers of headerSets) {
    for (const l of cases) {
      const ours = lines();
      const theirs = lines();
      createLogging({ level: 'info', format: 'json', access: 'combined' }, ours).exchangeLine({ ...l.facts, headers }, l.status, l.durationMs, l.target, l.aborted, l.error);
      createLogger({ level: 'info', format: 'json', access: 'combined' }, theirs).info(fieldsOf({ ...l, facts: { ...l.facts, headers } }), 'request');
      const stamp = (s: string): string => s.replace(/\[[^\]]+\]/, '[T]');
      t.equal(stamp(ours.got.join('')), stamp(theirs.got.join('')), JSON.stringify(headers));
    }
  }
});

t.test('a duration in hundredths is written as String() writes it, and any other number as JSON does', async (t) => {
  let differ = 0;
  const check = (v: number): void => {
    const want = Number.isFinite(v) ? String(v) : 'null';
    if (hundredths(v) !== want && differ++ < 5) t.fail(`${v}: ${hundredths(v)} != ${want}`);
  };
  // Every duration up to 3,000 s, as logExchange rounds it; then far ones, and ones it never makes.
  for (let k = 0; k <= 300_000; k++) check(Math.round((k / 100) * 100) / 100);
  for (let i = 0; i < 50_000; i++) check(Math.round(Math.random() * 1e15) / 100);
  for (const v of [-0, -0.01, -1.5, 1 / 3, 0.005, 1e-7, 1.005, 9999999999999.99, 1e13, 1e13 + 0.5, 1e20, 1e21, 2 ** 53, Number.MAX_VALUE, Number.NaN, Infinity, -Infinity]) check(v);
  t.equal(differ, 0, 'no number written differently');
  t.equal(hundredths(12.3), '12.3');
  t.equal(hundredths(0.07), '0.07');
  t.equal(hundredths(40), '40');
});

t.test('logExchange writes the same line whether the writer takes it or declines it to pino', async (t) => {
  const metrics = new Metrics(false);
  const headers = { host: 'localhost', 'user-agent': 'ua' };
  const exchange = {
    ...base.facts, headers, label: 'localhost/', upstream: { name: 'app' }, headersAt: 0, start: performance.now(), accessLog: true,
    error: new EdgeError('EDGE_ERR_UPSTREAM_CONNECT', 'connect ECONNREFUSED 127.0.0.1:1'), sending: { target: { id: '127.0.0.1:1' } }, requestId: 'r-1',
  } as unknown as Exchange;
  const res = { headersSent: true, statusCode: 502, writableFinished: false } as unknown as ClientResponse;
  for (const access of ['json', 'combined'] as const) {
    const taken = lines();
    const declined = lines();
    const direct = createLogging({ level: 'info', format: 'json', access }, taken);
    const viaPino = createLogging({ level: 'info', format: 'json', access }, declined);
    logExchange({ ...direct, metrics }, exchange, res);
    logExchange({ log: viaPino.log, metrics, exchangeLine: () => false }, exchange, res);
    const same = (s: string): string => sameTime(s).replace(/"durationMs":[^,]*/, '"durationMs":D').replace(/\[[^\]]+\]/, '[T]');
    t.equal(taken.got.length, 1);
    t.equal(same(taken.got.join('')), same(declined.got.join('')), access);
    if (access === 'json') t.match(taken.got[0], /"status":502,"durationMs":[\d.]+,"clientIp":"127.0.0.1","target":"127.0.0.1:1","bytes":100,"aborted":true,"err":"connect ECONNREFUSED 127.0.0.1:1","code":"EDGE_ERR_UPSTREAM_CONNECT","requestId":"r-1","msg":"request"\}\n$/);
  }
});
