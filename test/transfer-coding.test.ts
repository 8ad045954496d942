import t from 'tap';
import { basicConfig, startEdge, HSTS } from './helpers/edge.js';
import { parseRaw, rawTls, rawUpstream, recordingUpstream } from './helpers/net.js';

t.test('a client Transfer-Encoding other than a lone "chunked" is 501 with HSTS and one log line; nothing goes upstream', async (t) => {
  const upstream = await rawUpstream(t, (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  const codings = [
    'Transfer-Encoding: gzip, chunked', // llhttp accepts it as chunked: the pipeline must refuse
    'Transfer-Encoding: gzip', // llhttp emits the request, then fails on the body
    'Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked', // the same list split over two lines
    'Transfer-Encoding: chunked, identity', // llhttp refuses it itself (HPE_INVALID_TRANSFER_ENCODING)
    'Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked',
  ];
  for (const coding of codings) {
    const reply = parseRaw(await rawTls(port, `POST /upload HTTP/1.1\r\nHost: localhost\r\n${coding}\r\n\r\n5\r\nhello\r\n0\r\n\r\n`));
    t.equal(reply.status, 501, coding);
    t.strictSame(reply.headers.get('strict-transport-security'), [HSTS], coding);
    t.strictSame(reply.headers.get('connection'), ['close'], coding);
  }
  t.equal(upstream.connections, 0, 'no upstream was contacted');
  const lines = logs.lines.filter((l) => l.status === 501);
  t.equal(lines.length, codings.length, 'one log line per refusal');
});

t.test('Transfer-Encoding on HTTP/1.0 is 400 (RFC 9112 §6.1); a lone chunked still passes', async (t) => {
  const upstream = await recordingUpstream(t, (seen) => seen.endsWith('0\r\n\r\n'), 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const { port, logs } = await startEdge(t, basicConfig([upstream.address]));
  const old = parseRaw(await rawTls(port, 'POST / HTTP/1.0\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'));
  t.equal(old.status, 400);
  t.match(await logs.next((l) => l.status === 400), { code: 'EDGE_ERR_BAD_REQUEST' });
  t.strictSame(old.headers.get('strict-transport-security'), [HSTS]);
  t.equal(upstream.connections, 0);
  const ok = parseRaw(await rawTls(port, 'POST / HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: Chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n\r\n'));
  t.equal(ok.status, 200, 'chunked (any case) is forwarded');
  t.match(upstream.seen(), /\r\n5\r\nhello\r\n0\r\n\r\n$/, 'as chunked');
});
