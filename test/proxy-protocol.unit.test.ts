import t, { type Test } from 'tap';
import { ProxyHeaderParser, sniffProxy, type ProxyParse } from '../src/listeners/proxy-protocol.js';
import { v1, v2, v2Local, v2Raw } from './helpers/proxy.js';

const CLIENT_HELLO = Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]);

/** Feed `bytes` split at `cut` (and, separately, one byte at a time); every split must give the same answer. */
function parseSplits(t: Test, bytes: Buffer): ProxyParse {
  const whole = new ProxyHeaderParser().push(bytes);
  for (let cut = 1; cut < bytes.length; cut++) {
    const p = new ProxyHeaderParser();
    const first = p.push(bytes.subarray(0, cut));
    const answer = first.kind === 'more' ? p.push(bytes.subarray(cut)) : withTail(first, bytes.subarray(cut));
    t.same(describe(answer), describe(whole), `split at ${cut}`);
  }
  const p = new ProxyHeaderParser();
  let answer: ProxyParse = { kind: 'more' };
  for (let i = 0; i < bytes.length && answer.kind === 'more'; i++) answer = p.push(bytes.subarray(i, i + 1));
  // Byte by byte, 'rest' can only be what was pushed after the answer: compare the header alone.
  if (answer.kind === 'header' && whole.kind === 'header') t.same(answer.header, whole.header, 'byte by byte');
  else if (answer.kind !== 'none') t.same(describe(answer), describe(whole), 'byte by byte');
  return whole;
}

/** An answer given before the second push: what the caller still reads afterwards belongs to its rest. */
function withTail(p: ProxyParse, tail: Buffer): ProxyParse {
  if (p.kind === 'header') return { ...p, rest: Buffer.concat([p.rest, tail]) };
  if (p.kind === 'none') return { ...p, buffered: Buffer.concat([p.buffered, tail]) };
  return p;
}

function describe(p: ProxyParse): unknown {
  if (p.kind === 'header') return { kind: p.kind, header: p.header, rest: p.rest.toString('hex') };
  if (p.kind === 'none') return { kind: p.kind, buffered: p.buffered.toString('hex') };
  return p;
}

function header(t: Test, bytes: Buffer): { source: unknown; version: number; rest: string } {
  const answer = parseSplits(t, bytes);
  if (answer.kind !== 'header') throw new Error(`expected a header, got ${JSON.stringify(describe(answer))}`);
  return { source: answer.header.source, version: answer.header.version, rest: answer.rest.toString('hex') };
}

function invalid(t: Test, bytes: Buffer): string {
  const answer = parseSplits(t, bytes);
  if (answer.kind !== 'invalid') throw new Error(`expected invalid, got ${JSON.stringify(describe(answer))}`);
  return answer.reason;
}

t.test('v1 TCP4 and TCP6 name the source; the bytes after CRLF are handed back whole', async (t) => {
  const four = header(t, Buffer.concat([v1('TCP4', '203.0.113.7', '192.0.2.1', 56324, 443), CLIENT_HELLO]));
  t.same(four, { version: 1, source: { address: '203.0.113.7', port: 56324 }, rest: CLIENT_HELLO.toString('hex') });
  const six = header(t, v1('TCP6', '2001:db8::7', '2001:db8::1', 1, 443));
  t.same(six.source, { address: '2001:db8::7', port: 1 });
});

t.test('v1 UNKNOWN keeps the peer address, whatever follows it', async (t) => {
  t.same(header(t, Buffer.from('PROXY UNKNOWN\r\n')).source, null);
  t.same(header(t, Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\nGET')).rest, Buffer.from('GET').toString('hex'));
});

t.test('malformed v1 headers are refused with a reason', async (t) => {
  for (const text of [
    'PROXY TCP5 1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 1 2 3\r\n',
    'PROXY TCP4 1.2.3 5.6.7.8 1 2\r\n', 'PROXY TCP4 ::1 ::2 1 2\r\n', 'PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n',
    'PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n', 'PROXY TCP4 1.2.3.4 5.6.7.8 -1 2\r\n',
    'PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n', 'PROXY \r\n',
  ]) {
    t.ok(invalid(t, Buffer.from(text)).length > 0, JSON.stringify(text));
  }
});

t.test('a v1 header is at most 107 bytes, CRLF included', async (t) => {
  const longest = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(107 - 'PROXY UNKNOWN \r\n'.length)}\r\n`);
  t.equal(longest.length, 107);
  t.equal(header(t, longest).source, null, '107 bytes is allowed');
  const over = Buffer.from(`PROXY UNKNOWN ${'x'.repeat(108 - 'PROXY UNKNOWN \r\n'.length)}\r\n`);
  t.match(invalid(t, over), /107/, '108 bytes is refused');
  t.match(invalid(t, Buffer.from(`PROXY ${'A'.repeat(200)}`)), /107/, 'no CRLF in sight is refused without waiting for more');
});

t.test('v2 PROXY over TCP names IPv4 and IPv6 sources; TLVs are skipped; the rest is kept', async (t) => {
  const tlv = Buffer.from([0x04, 0x00, 0x03, 0x61, 0x62, 0x63]); // PP2_TYPE_NOOP with 3 bytes
  const four = header(t, Buffer.concat([v2('198.51.100.23', '192.0.2.1', 40000, 443, tlv), CLIENT_HELLO]));
  t.same(four, { version: 2, source: { address: '198.51.100.23', port: 40000 }, rest: CLIENT_HELLO.toString('hex') });
  t.same(header(t, v2('2001:db8:0:0:1:0:0:1', '2001:db8::2', 5, 443)).source, { address: '2001:db8::1:0:0:1', port: 5 });
  t.same(header(t, v2('::ffff:cb00:7109', '::1', 5, 443)).source, { address: '::ffff:203.0.113.9', port: 5 }, 'IPv4-mapped reads as Node writes it');
  t.same(header(t, v2('::', '::1', 5, 443)).source, { address: '::', port: 5 });
});

t.test('v2 LOCAL, UNSPEC and UNIX keep the peer address', async (t) => {
  t.same(header(t, Buffer.concat([v2Local(), CLIENT_HELLO])), { version: 2, source: null, rest: CLIENT_HELLO.toString('hex') });
  t.same(header(t, v2Raw(0x20, 0x00, Buffer.alloc(0))).source, null, 'LOCAL with no address block');
  t.same(header(t, v2Raw(0x21, 0x00, Buffer.alloc(0))).source, null, 'PROXY UNSPEC');
  t.same(header(t, v2Raw(0x21, 0x31, Buffer.alloc(216))).source, null, 'PROXY UNIX stream');
});

t.test('malformed v2 headers are refused with a reason', async (t) => {
  t.match(invalid(t, v2Raw(0x11, 0x11, Buffer.alloc(12))), /version 1/);
  t.match(invalid(t, v2Raw(0x22, 0x11, Buffer.alloc(12))), /command 2/);
  t.match(invalid(t, v2Raw(0x21, 0x41, Buffer.alloc(12))), /family 4/);
  t.match(invalid(t, v2Raw(0x21, 0x13, Buffer.alloc(12))), /transport 3/);
  t.match(invalid(t, v2Raw(0x21, 0x11, Buffer.alloc(8))), /too short/);
  t.match(invalid(t, v2Raw(0x21, 0x21, Buffer.alloc(12))), /too short/, 'an IPv4-sized block for IPv6');
  t.match(invalid(t, v2Raw(0x21, 0x12, Buffer.alloc(12))), /datagram/);
});

t.test('a v2 header waits for its whole announced length', async (t) => {
  const p = new ProxyHeaderParser();
  const h = v2('192.0.2.9', '192.0.2.1', 1, 2);
  t.equal(p.push(h.subarray(0, h.length - 1)).kind, 'more');
  t.equal(p.push(h.subarray(h.length - 1)).kind, 'header');
});

t.test('a stream that is not PROXY is recognised early and handed back byte for byte', async (t) => {
  t.same(describe(parseSplits(t, CLIENT_HELLO)), { kind: 'none', buffered: CLIENT_HELLO.toString('hex') });
  t.equal(new ProxyHeaderParser().push(Buffer.from([0x16])).kind, 'none', 'one TLS byte decides');
  const p = new ProxyHeaderParser();
  t.equal(p.push(Buffer.from('PRO')).kind, 'more');
  t.same(describe(p.push(Buffer.from('PFIND / HTTP/1.1\r\n'))), { kind: 'none', buffered: Buffer.from('PROPFIND / HTTP/1.1\r\n').toString('hex') });
  t.equal(sniffProxy(Buffer.from('POST')), 'no');
  t.equal(sniffProxy(Buffer.from('PROXY')), 'maybe');
  t.equal(sniffProxy(Buffer.from('PROXY ')), 'yes');
  t.equal(sniffProxy(v2Local().subarray(0, 11)), 'maybe');
  t.equal(sniffProxy(v2Local().subarray(0, 12)), 'yes');
  t.equal(sniffProxy(Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x01])), 'no');
});

t.test('after its answer a parser ignores further bytes', async (t) => {
  const p = new ProxyHeaderParser();
  const first = p.push(Buffer.concat([v1('TCP4', '192.0.2.1', '192.0.2.2', 1, 2), Buffer.from('x')]));
  t.equal(first.kind, 'header');
  t.same(p.push(Buffer.from('more')), first);
});
