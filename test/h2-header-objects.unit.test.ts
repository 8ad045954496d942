// The two header objects of an h2 exchange, each pinned against the plain form it replaced.
//
// upstreamHeaders (src/http/message.ts) walks the raw field list instead of a for-in over Node's
// merged header object. Pinned here against that for-in, on the objects Node itself builds: a
// real h2 server on loopback is sent exact header blocks (raw frames: repeated names, cookie
// crumbs, Host beside :authority, integer-like and Object.prototype names), and for every stream
// both give the same object, key order included.
import { readFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { createSecureServer, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { FieldNames, headerObject, upstreamHeaders } from '../src/http/message.js';
import { H2Request } from '../src/http/h2-exchange.js';
import { testCerts } from './helpers/certs.js';
import { FRAME, RawH2, field, getBlock, headers, ref } from './helpers/h2-frames.js';
import { within } from './helpers/wait.js';

/** The for-in this replaced: every own name of Node's object, pseudo-headers and a replaced Host left out. */
function byForIn(source: IncomingHttpHeaders): IncomingHttpHeaders {
  const authority = source[':authority'];
  const out: IncomingHttpHeaders = {};
  if (typeof authority === 'string') out.host = authority;
  for (const name in source) {
    if (name.charCodeAt(0) === 58 || (name === 'host' && out.host !== undefined)) continue;
    out[name] = source[name];
  }
  return out;
}

/** Header blocks after the static-table :method GET, :scheme https, :path / (getBlock adds :authority). */
const BLOCKS: readonly Buffer[] = [
  getBlock(),
  getBlock([field('accept', '*/*'), field('user-agent', 'x/1')]),
  getBlock([field('cookie', 'a=1'), field('x-b', '1'), field('cookie', 'b=2'), field('x-b', '2'), field('cookie', 'c=3')]),
  getBlock([field('host', 'other.test'), field('x-a', '1')]),
  Buffer.concat([ref(2), ref(7), ref(4), field('host', 'only-host.test'), field('x-a', '1')]),
  getBlock([field('9', 'nine'), field('x-z', 'z'), field('10', 'ten'), field('2', 'two'), field('a', 'a')]),
  getBlock([field('constructor', 'c'), field('tostring', 's'), field('__proto__', 'p'), field('hasownproperty', 'h')]),
  getBlock([field('content-type', 'text/plain'), field('content-type', 'text/html'), field('x-long', 'v'.repeat(3000))]),
  getBlock([field('set-cookie', 'a=1'), field('set-cookie', 'b=2'), field('accept', 'a'), field('accept', 'b')]),
  getBlock(Array.from({ length: 60 }, (_, i) => field(`x-f${i % 23}`, String(i)))),
];

t.test('the raw-list walk gives the for-in object, key order included, on the objects Node makes', async (t) => {
  const certs = await testCerts();
  const checked: { fromRaw: IncomingHttpHeaders; forIn: IncomingHttpHeaders }[] = [];
  const server = createSecureServer({ key: readFileSync(certs.a.key), cert: readFileSync(certs.a.cert), ALPNProtocols: ['h2'] });
  server.on('stream', (stream: ServerHttp2Stream, fields: IncomingHttpHeaders, _flags: number, raw: string[]) => {
    const req = new H2Request(stream, fields, raw, stream.session?.socket as never);
    checked.push({ fromRaw: upstreamHeaders(req), forIn: byForIn(fields) });
    stream.respond({ ':status': 204 }, { endStream: true });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  const raw = await RawH2.open(t, (server.address() as AddressInfo).port);
  BLOCKS.forEach((block, i) => raw.write(headers(2 * i + 1, block)));
  await within(5000, (async () => {
    for (let i = 0; i < BLOCKS.length; i++) await raw.until((f) => f.type === FRAME.HEADERS && f.stream === 2 * i + 1, `the answer to stream ${2 * i + 1}`);
  })(), 'every stream answered');
  t.equal(checked.length, BLOCKS.length, 'every block reached the server as a stream');
  for (const [i, { fromRaw, forIn }] of checked.entries()) {
    t.strictSame(fromRaw, forIn, `block ${i}: the same fields and values`);
    t.strictSame(Object.keys(fromRaw), Object.keys(forIn), `block ${i}: the same key order`);
    t.equal(Object.getPrototypeOf(fromRaw), Object.getPrototypeOf(forIn), `block ${i}: the same prototype`);
  }
  // The cases the blocks were written for, read back.
  t.equal(checked[2]?.fromRaw.cookie, 'a=1; b=2; c=3', 'cookie crumbs joined by Node, kept whole');
  t.equal(checked[3]?.fromRaw.host, 'localhost', ':authority replaces Host');
  t.equal(checked[4]?.fromRaw.host, 'only-host.test', 'Host kept without :authority');
  t.strictSame(Object.keys(checked[5]?.fromRaw ?? {}), ['2', '9', '10', 'host', 'x-z', 'a']);
});

// FieldNames (src/http/message.ts) remembers the lower-case names of the answers before by
// position. Pinned against headerObject over a run of answers that keep, change, re-case, repeat
// and outgrow the remembered names: every object the same, key order and prototype included.
t.test('FieldNames gives the headerObject object for every answer of a run, whatever the names before it', async (t) => {
  const answers: string[][] = [
    ['Content-Type', 'text/plain', 'Content-Length', '5', 'Date', 'd'],
    ['Content-Type', 'text/html', 'Content-Length', '7', 'Date', 'e'],
    ['content-type', 'a', 'CONTENT-LENGTH', '1', 'date', 'f'],
    ['Content-Length', '1', 'Content-Type', 'b'],
    ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2', 'set-cookie', 'c=3', 'X-Dup', '1', 'x-dup', '2'],
    ['Set-Cookie', 'a=1', 'X-Dup', '1', 'Set-Cookie', 'b=2'],
    ['Constructor', 'c', 'toString', 's', '__proto__', 'p', 'hasOwnProperty', 'h', 'X-Last', '1'],
    ['Content-Typf', 'x', 'Content-Type', 'y'],
    ['Content-Type-', 'x', 'Content-Typ', 'y', 'Content-Type', 'z'],
    ['@ontent-type', 'x', '[ontent-type', 'y', '`ontent-type', 'z', '{ontent-type', 'w'],
    Array.from({ length: 80 }, (_, i) => [`X-F${i % 50}`, String(i)]).flat(),
    Array.from({ length: 80 }, (_, i) => [`x-f${(i * 7) % 50}`, String(i)]).flat(),
    [],
    ['Content-Type', 'text/plain', 'Content-Length', '5', 'Date', 'd'],
  ];
  const names = new FieldNames();
  for (let round = 0; round < 3; round++) {
    for (const [i, pairs] of answers.entries()) {
      const got = names.object(pairs);
      const want = headerObject(pairs);
      t.strictSame(got, want, `round ${round}, answer ${i}: the same fields and values`);
      t.strictSame(Object.keys(got), Object.keys(want), `round ${round}, answer ${i}: the same key order`);
      t.equal(Object.getPrototypeOf(got), Object.prototype, `round ${round}, answer ${i}: an ordinary object`);
    }
  }
  t.strictSame(names.object(['Constructor', 'c', 'X-A', '1']), { constructor: 'c', 'x-a': '1' }, 'an Object.prototype name is an own field');
  t.strictSame(names.object(['Content-Type', 'a', 'content-type', 'b']), { 'content-type': ['a', 'b'] }, 'a name repeated in another case is one field');
});
