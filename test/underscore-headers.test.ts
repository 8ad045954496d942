import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { parseRaw, rawTls, recordingUpstream } from './helpers/net.js';

// Names a CGI-style backend folds into the same HTTP_X_... variables as Gatehouse's own headers.
const SPOOFS = 'X_Forwarded_For: 6.6.6.6\r\nX-Real_IP: 6.6.6.6\r\nX-Forwarded_Proto: http\r\nX_Forwarded_Host: evil.test\r\nMy_Header: 1\r\n';

const headEnded = (seen: string): boolean => seen.includes('\r\n\r\n');

function headerNames(head: string): string[] {
  return head.split('\r\n\r\n')[0]?.split('\r\n').slice(1).map((l) => l.slice(0, l.indexOf(':')).toLowerCase()) ?? [];
}

t.test('client header names with "_" never reach the upstream; Gatehouse\'s own do', async (t) => {
  const upstream = await recordingUpstream(t, headEnded, 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
  const { port } = await startEdge(t, basicConfig([upstream.address]));
  const reply = parseRaw(await rawTls(port, `GET /p HTTP/1.1\r\nHost: localhost\r\n${SPOOFS}X-Kept: yes\r\nConnection: close\r\n\r\n`));
  t.equal(reply.status, 200);
  const names = headerNames(upstream.seen());
  t.strictSame(names.filter((n) => n.includes('_')), [], 'no underscore name upstream');
  for (const own of ['x-forwarded-for', 'x-real-ip', 'x-forwarded-proto', 'x-forwarded-host', 'x-kept']) t.ok(names.includes(own), own);
  t.notOk(upstream.seen().includes('6.6.6.6'), 'the spoofed address is nowhere upstream');
});

t.test('the same holds for a WebSocket handshake', async (t) => {
  const upstream = await recordingUpstream(t, headEnded, 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n', true);
  const { port } = await startEdge(t, basicConfig([upstream.address]));
  const handshake = 'GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n' +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nOrigin: https://localhost\r\n${SPOOFS}\r\n`;
  const reply = parseRaw(await rawTls(port, handshake));
  t.equal(reply.status, 404, 'the upstream\'s refusal is relayed');
  const names = headerNames(upstream.seen());
  t.ok(names.includes('upgrade'), 'the handshake reached the upstream');
  t.strictSame(names.filter((n) => n.includes('_')), [], 'no underscore name upstream');
  for (const own of ['x-forwarded-for', 'x-real-ip', 'x-forwarded-proto', 'x-forwarded-host']) t.ok(names.includes(own), own);
  t.notOk(upstream.seen().includes('6.6.6.6'));
});
