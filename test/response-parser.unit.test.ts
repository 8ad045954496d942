// ResponseParser on its own: the same events however the bytes are split.
import t from 'tap';
import { ResponseParser, type ResponseHead } from '../src/upstream/response-parser.js';

interface Seen { heads: ResponseHead[]; body: string; complete: boolean[] }

function run(text: string, split: number, noBody = false, close = false): Seen {
  const seen: Seen = { heads: [], body: '', complete: [] };
  const parser = new ResponseParser({
    onHead: (head) => seen.heads.push(head),
    onBody: (chunk) => { seen.body += chunk.toString('latin1'); },
    onComplete: (reusable, tail) => {
      if (tail !== undefined) seen.body += tail.toString('latin1');
      seen.complete.push(reusable);
    },
    onUpgrade: () => { throw new Error('no upgrade was asked for'); },
  }, 1024);
  parser.reset(noBody);
  const bytes = Buffer.from(text, 'latin1');
  for (let i = 0; i < bytes.length; i += split) parser.execute(bytes.subarray(i, i + split));
  if (close) parser.finish();
  return seen;
}

const CASES: Array<[string, string, string, boolean]> = [
  ['content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello', 'hello', true],
  ['chunked with extension and trailer', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;a=b\r\nhello\r\n1\r\n!\r\n0\r\nX-T: 1\r\n\r\n', 'hello!', true],
  ['chunked in another case', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: Chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n', 'zz', true],
  ['bare LF line endings', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 'ok', true],
  ['1xx first', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx', 'x', true],
  ['empty reason', 'HTTP/1.1 200\r\nContent-Length: 1\r\n\r\nx', 'x', true],
];

for (const [name, text, body, reusable] of CASES) {
  t.test(name, async (t) => {
    for (const split of [1, 2, 3, 7, text.length]) {
      const seen = run(text, split);
      t.equal(seen.heads.length, 1, `split ${split}: one final head`);
      t.equal(seen.heads[0]?.status, 200);
      t.equal(seen.body, body, `split ${split}: body`);
      t.same(seen.complete, [reusable], `split ${split}: completes once`);
    }
  });
}

t.test('read until close: complete (not reusable) only when finish() is called', async (t) => {
  for (const text of ['HTTP/1.1 200 OK\r\n\r\nabc', 'HTTP/1.1 200 OK\r\nX-Other: 1\r\n\r\nabc']) {
    t.same(run(text, 4).complete, []);
    const seen = run(text, 4, false, true);
    t.equal(seen.body, 'abc');
    t.same(seen.complete, [false]);
  }
});

t.test('HEAD: no body is read even with a length', async (t) => {
  const seen = run('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', 3, true);
  t.equal(seen.body, '');
  t.same(seen.complete, [true]);
});

t.test('head fields are raw pairs; Connection tokens lower-cased', async (t) => {
  const [head] = run('HTTP/1.1 200 Fine\r\nX-A:  spaced  \r\nConnection: Close, X-Foo\r\nContent-Length: 0\r\n\r\n', 100).heads;
  t.same(head?.headers, ['X-A', 'spaced', 'Connection', 'Close, X-Foo', 'Content-Length', '0']);
  t.same(head?.connectionTokens, ['close', 'x-foo']);
  t.equal(head?.reason, 'Fine');
  t.equal(head?.close, true);
});

t.test('field values lose only SP and HTAB around them: other bytes, 0xA0 included, stay', async (t) => {
  const voila = Buffer.from('voilà', 'utf8').toString('latin1'); // ends in byte 0xA0
  const [head] = run(`HTTP/1.1 200 OK\r\nX-Name: \t${voila}\xa0 \r\nContent-Length: 0\r\n\r\n`, 100).heads;
  t.same(head?.headers.slice(0, 2), ['X-Name', `${voila}\xa0`]);
});

t.test('repeated identical Content-Length (a list or separate lines) goes on as one header', async (t) => {
  for (const text of ['HTTP/1.1 200 OK\r\nContent-Length: 2, 2\r\n\r\nok', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX: y\r\ncontent-length: 2\r\n\r\nok']) {
    const seen = run(text, 4);
    t.same(seen.heads[0]?.headers.filter((_, i, all) => i % 2 === 0 && all[i]?.toLowerCase() === 'content-length').length, 1);
    t.equal(seen.body, 'ok');
  }
});

t.test('errors carry HPE_ codes', async (t) => {
  const bad: Array<[string, string]> = [
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    [`HTTP/1.1 200 OK\r\nX: ${'a'.repeat(2000)}`, 'HPE_HEADER_OVERFLOW'],
    ['SPDY/3 200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 2\xa0\r\n\r\nok', 'HPE_INVALID_CONTENT_LENGTH'],
    // Only chunked alone is relayed (DESIGN 14): other codings would reach the client undecoded but unlabelled.
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n2\r\nzz\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\nabc', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n', 'HPE_UNEXPECTED_UPGRADE'],
  ];
  for (const [text, code] of bad) {
    t.throws(() => run(text, 5), { name: 'ParseError', code }, code);
  }
  t.throws(() => run('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nab', 5, false, true), { code: 'HPE_INCOMPLETE' }, 'closed mid-body');
});

t.test('a 101 to an upgrade request is an upgrade event with the bytes after it; a 1xx before it counts as an answer', async (t) => {
  const upgrades: Array<[number, string]> = [];
  const parser = new ResponseParser({
    onHead: () => t.fail('no final head'), onBody: () => t.fail('no body'), onComplete: () => t.fail('no completion'),
    onUpgrade: (head, rest) => upgrades.push([head.status, rest.toString('latin1')]),
  }, 1024);
  parser.reset(false, true);
  t.equal(parser.untouched, true);
  parser.execute(Buffer.from('HTTP/1.1 103 Early Hints\r\n\r\n'));
  t.equal(parser.untouched, false, 'an interim answer is an answer');
  parser.execute(Buffer.from('HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x00', 'latin1'));
  parser.execute(Buffer.from('ignored: the tunnel reads the socket now'));
  t.same(upgrades, [[101, '\x81\x00']]);
});

// The head is read in one pass over its bytes (src/upstream/response-head.ts), not line by line
// with regexes: every edge of the grammar keeps its error code, and what is accepted is read the same.
t.test('the one-pass head reader refuses what the field grammar refuses, with the same codes', async (t) => {
  const bad: Array<[string, string]> = [
    ['HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\n\tX: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\n: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX : a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX-A\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX\x7fA: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX\xe9: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\n\rX: a\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\rb\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\r \r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\r\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\0b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\x7f\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nX: a\x1b\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\nX: \x01\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['HTTP/1.1 200 O\rK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 O\x01K\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\r\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 099 Low\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 20 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1  200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.2 200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['http/1.1 200 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1234567890123456\r\n\r\nx', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nContent-Length: 1,\r\n\r\nx', 'HPE_INVALID_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\ncontent-LENGTH: 1\r\nContent-Length: 2\r\n\r\nxx', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: chunked\r\nCONTENT-LENGTH: 2\r\n\r\n', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
  ];
  for (const [text, code] of bad) {
    t.throws(() => run(text, text.length), { name: 'ParseError', code }, `${JSON.stringify(text)}: ${code}`);
    t.throws(() => run(text, 1), { name: 'ParseError', code }, `${JSON.stringify(text)} byte by byte: ${code}`);
  }
});

t.test('the one-pass head reader reads names in any case, trims only SP and HTAB, and keeps values as sent', async (t) => {
  const [mixed] = run('HTTP/1.1 200 \xe9t\xe9\t!\r\ncOnTeNt-LeNgTh: 002\r\nX-Empty:\r\nX-Tab:\ta\tb\t\r\nX-Colon: a:b\r\n\r\nok', 100).heads;
  t.same(mixed?.headers, ['cOnTeNt-LeNgTh', '002', 'X-Empty', '', 'X-Tab', 'a\tb', 'X-Colon', 'a:b']);
  t.equal(mixed?.reason, '\xe9t\xe9\t!');
  t.equal(run('HTTP/1.1 200 OK\r\ncOnTeNt-LeNgTh: 002\r\n\r\nok', 1).body, 'ok', 'the length frames the body');
  t.equal(run('HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 0000000000000002\r\n\r\nok', 3).body, 'ok', 'leading zeros do not count towards 15 digits');
  // Names one letter off are ordinary fields: the answer is read until close.
  for (const name of ['Content-Lengtx', 'Content-Lengths', 'Transfer-Encodin', 'Connectio']) {
    const seen = run(`HTTP/1.1 200 OK\r\n${name}: 1\r\n\r\nabc`, 4, false, true);
    t.equal(seen.body, 'abc', `${name} does not frame`);
    t.same(seen.complete, [false]);
  }
  t.equal(run('HTTP/1.1 200 OK\r\nTRANSFER-encoding: CHUNKED\r\n\r\n2\r\nzz\r\n0\r\n\r\n', 2).body, 'zz', 'chunked in any case');
  const [http10] = run('HTTP/1.0 200 OK\r\nCONNECTION: Keep-Alive\r\ncontent-length: 0\r\n\r\n', 5).heads;
  t.equal(http10?.close, false, 'an HTTP/1.0 keep-alive in any case keeps the connection');
  const [listed] = run('HTTP/1.1 200 OK\r\nConnection: x-a, , X-B\r\nconnection: CLOSE\r\nContent-Length: 0\r\n\r\n', 7).heads;
  t.same(listed?.connectionTokens, ['x-a', 'x-b', 'close']);
  t.equal(listed?.close, true);
  const [bare] = run('HTTP/1.1 204\nX: y \n\n', 1).heads;
  t.same([bare?.status, bare?.reason, bare?.headers], [204, '', ['X', 'y']], 'bare LF lines, no reason');
});

t.test('common field names come out spelled exactly as the upstream sent them, in every case', async (t) => {
  const names = ['content-type', 'Content-Type', 'CONTENT-TYPE', 'content-Type', 'ETag', 'Etag', 'etag', 'ETAG',
    'Set-Cookie', 'set-cookie', 'SET-COOKIE', 'Date', 'DATE', 'Vary', 'vARY', 'Access-Control-Allow-Origin',
    'access-control-allow-ORIGIN', 'X-Powered-By', 'x-powered-by', 'X-Powered-By2'];
  const text = `HTTP/1.1 200 OK\r\n${names.map((n, i) => `${n}: v${i}`).join('\r\n')}\r\nContent-Length: 0\r\n\r\n`;
  for (const split of [1, 5, text.length]) {
    const [head] = run(text, split).heads;
    t.same(head?.headers, [...names.flatMap((n, i) => [n, `v${i}`]), 'Content-Length', '0'], `split ${split}`);
  }
});
