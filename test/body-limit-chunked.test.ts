import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { parseRaw, rawTls, startBackend } from './helpers/net.js';

// A body without Content-Length is counted as it streams: past limits.bodySize the 413 goes out
// mid-request, on the proxied path. Its access line names the cause like every other refusal.
t.test('a chunked body over limits.bodySize: 413, and its log line carries EDGE_ERR_BODY_TOO_LARGE', async (t) => {
  const backend = await startBackend(t);
  const { port, logs } = await startEdge(t, basicConfig([backend.address], 'limits: { bodySize: 10 }'));
  const raw = await rawTls(port, `POST /upload HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n64\r\n${'x'.repeat(100)}\r\n0\r\n\r\n`);
  const reply = parseRaw(raw);
  t.equal(reply.status, 413);
  t.equal(reply.body, 'request body larger than 10 bytes\n');
  const line = await logs.next((l) => l.msg === 'request' && l.path === '/upload', 3000);
  t.ok(line, 'the request was logged within 3 s');
  t.equal(line?.status, 413);
  t.equal(line?.code, 'EDGE_ERR_BODY_TOO_LARGE');
  // The client's own doing: no outage warning names the upstream for it.
  t.notOk(logs.lines.some((l) => l.event === 'request-failed'), 'no "requests failing" warning for a client\'s oversized body');
});
