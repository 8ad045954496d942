// The JSON access line is built by hand (src/access-log.ts jsonAccessFormatter) instead of by
// pino's generic serialiser: these check it writes the very bytes pino writes for the same call,
// for every kind of value an access line holds, and that what it does not handle goes to pino.
import { pino, type DestinationStream, type Logger } from 'pino';
import t from 'tap';
import { REQUEST_HEADERS } from '../src/access-log.js';
import { createLogger, isoTimeOncePerMs } from '../src/log.js';

/** A stream that keeps every line. */
function lines(): DestinationStream & { readonly got: string[] } {
  const got: string[] = [];
  return { got, write: (s: string) => { got.push(s); } };
}

/** pino as it was before access lines were built by hand: the same base and time, no hook. */
function plainPino(out: DestinationStream): Logger {
  return pino({ level: 'info', base: { pid: process.pid }, timestamp: () => ',"time":"T"' }, out);
}

const sameTime = (line: string): string => line.replace(/,"time":"[^"]*"/, ',"time":"T"');

/** Logs `fields` both ways and returns the two lines (time made equal). */
function both(fields: object, level: 'info' | 'warn' = 'info', bindings?: Record<string, unknown>): [string, string] {
  const ours = lines();
  const theirs = lines();
  const edge = createLogger({ level: 'info', format: 'json', access: 'json' }, ours);
  const plain = plainPino(theirs);
  (bindings === undefined ? edge : edge.child(bindings))[level](fields, 'request');
  (bindings === undefined ? plain : plain.child(bindings))[level](fields, 'request');
  return [sameTime(ours.got.join('')), theirs.got.join('')];
}

t.test('a proxied request line is byte for byte what pino writes', async (t) => {
  const [ours, theirs] = both({
    method: 'GET', protocol: 'http/1.1', host: 'localhost', path: '/a?b=c', status: 200, durationMs: 1.25,
    clientIp: '127.0.0.1', target: '127.0.0.1:9000', bytes: 100, requestId: 'abc', [REQUEST_HEADERS]: { host: 'localhost' },
  });
  t.equal(ours, theirs);
  t.match(ours, /^\{"level":30,"time":"T","pid":\d+,"method":"GET",.*,"requestId":"abc","msg":"request"\}\n$/);
});

t.test('escapes, control bytes, latin1 and non-ASCII strings, as pino escapes them', async (t) => {
  for (const path of ['/"quoted"', '/back\\slash', '/ctl\u0001\u001f\n\r\t', '/caf\u00e9', '/\u00ff\u0080', '/emoji\u{1f600}', '/del\u007f', 'x'.repeat(150) + '"']) {
    const [ours, theirs] = both({ method: 'GET', path, status: 400 });
    t.equal(ours, theirs, JSON.stringify(path));
    t.same((JSON.parse(ours) as { path: string }).path, path, 'the line parses back to the same path');
  }
});

t.test('every ASCII byte, alone and inside plain text, as pino writes it (the plain-string fast path and the escaped one)', async (t) => {
  for (let c = 0; c < 0x80; c++) {
    const ch = String.fromCharCode(c);
    for (const path of [ch, `/a${ch}b`, `${ch}/tail`]) {
      const [ours, theirs] = both({ method: 'GET', path, status: 200 });
      if (ours !== theirs) t.fail(`byte 0x${c.toString(16)} in ${JSON.stringify(path)}: ${ours} != ${theirs}`);
      if ((JSON.parse(ours) as { path: string }).path !== path) t.fail(`byte 0x${c.toString(16)} does not parse back`);
    }
  }
  t.pass('all 128 bytes in three positions');
});

t.test('numbers, null, booleans, undefined and symbol keys as pino writes them', async (t) => {
  const [ours, theirs] = both({ status: 0, durationMs: Number.NaN, bytes: Number.POSITIVE_INFINITY, neg: -0.5, target: null, aborted: true, quiet: false, err: undefined, code: 'EDGE_ERR_UPSTREAM_CONNECT', [Symbol('x')]: 1 });
  t.equal(ours, theirs);
  t.match(ours, /"durationMs":null,"bytes":null,"neg":-0.5,"target":null,"aborted":true,"quiet":false,"code":"EDGE_ERR_UPSTREAM_CONNECT","msg"/);
});

t.test('the level it was logged at and a child logger\'s bindings are kept', async (t) => {
  const [warned, warnedPino] = both({ status: 502 }, 'warn');
  t.equal(warned, warnedPino);
  t.match(warned, /^\{"level":40,/);
  const [child, childPino] = both({ status: 200 }, 'info', { component: 'x', n: 1 });
  t.equal(child, childPino);
  t.match(child, /"pid":\d+,"component":"x","n":1,"status":200/);
});

t.test('an object value, a message with arguments, and other messages are left to pino', async (t) => {
  const [nested, nestedPino] = both({ status: 200, extra: { a: [1, 'b'] } });
  t.equal(nested, nestedPino);
  t.match(nested, /"extra":\{"a":\[1,"b"\]\}/);
  const ours = lines();
  const edge = createLogger({ level: 'info', format: 'json', access: 'json' }, ours);
  edge.info({ event: 'x' }, 'something else');
  edge.info({ status: 1 }, 'request %s', 'formatted');
  t.match(ours.got[0], /"event":"x","msg":"something else"\}\n$/);
  t.match(ours.got[1], /"status":1,"msg":"request formatted"\}\n$/);
});

t.test('at log.level warn an info access line is not written at all', async (t) => {
  const out = lines();
  createLogger({ level: 'warn', format: 'json', access: 'json' }, out).info({ status: 200 }, 'request');
  t.same(out.got, []);
});

t.test('the line\'s time is toISOString() of its millisecond, its date and time of day made once per second', async (t) => {
  let now = 0;
  const time = isoTimeOncePerMs(() => now);
  // Within one second, across seconds, years of other widths, before 1970.
  for (const at of [0, 7, 45, 999, 1000, 1001, 1_733_550_000_123, 1_733_550_000_999, 1_733_550_001_000, 253_402_300_799_999, 253_402_300_800_000, -1, -1001, 1_733_550_000_050]) {
    now = at;
    t.equal(time(), `,"time":"${new Date(at).toISOString()}"`, String(at));
  }
});
