// Differential test of the request writer (issue 10): each request goes once straight to a
// node:http server (what llhttp reads from the client's own bytes) and once through a real edge
// to the same kind of server (what llhttp reads from the bytes Gatehouse wrote). Method, target,
// body bytes and headers must match, less hop-by-hop and plus the forwarded ones. The same
// request through a second edge to a raw server shows the exact bytes: the request-target
// byte for byte, CRLF only, never Content-Length beside Transfer-Encoding.
import { connect } from 'node:net';
import t from 'tap';
import { bytesUpstream, llhttpUpstream, type Parsed } from './helpers/capture.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { rawTls } from './helpers/net.js';

interface Request {
  readonly name: string;
  readonly method: string;
  /** The request-target as latin1 bytes. */
  readonly target: string;
  readonly headers?: ReadonlyArray<readonly [string, string]>;
  readonly body?: { readonly framing: 'length' | 'chunked'; readonly bytes: Buffer };
}

const ALL_BYTES = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
const utf8AsLatin1 = (text: string): string => Buffer.from(text, 'utf8').toString('latin1');

const REQUESTS: readonly Request[] = [
  { name: 'a plain GET', method: 'GET', target: '/' },
  { name: 'HEAD', method: 'HEAD', target: '/head' },
  { name: 'a target with empty and dot segments, escapes and a query', method: 'GET', target: '/a//b/./c/../d;p=1?x=%41&y=%zz&&z=a+b&%2e%2E' },
  // Raw bytes 0x80-0xff in a target are refused by llhttp on the way in (400), so they never reach the writer.
  { name: 'a target with percent-encoded UTF-8 and a stray %FF', method: 'GET', target: '/caf%C3%A9/%E2%9C%93?q=%FF&r=%c3%a9' },
  { name: 'header values with bytes 0x80-0xff', method: 'GET', target: '/latin', headers: [['X-Latin', 'caf\xe9 \x80\xff'], ['X-Utf8', utf8AsLatin1('voilà ✓')]] },
  {
    name: 'unusual but valid header values', method: 'GET', target: '/values', headers: [
      ['X-Quoted', '"a, b"; q=0.5'], ['X-Empty', ''], ['X-Tab', 'a\tb'], ['X-Symbols', '!#$%&\'*+-.^_`|~()<>@,;:\\"/[]?={}'],
      ['Cookie', 'a=1; b=2'], ['Authorization', 'Basic dXNlcjpwYXNz'], ['X-Spaces', 'inner   spaces kept'],
    ],
  },
  { name: 'repeated header lines', method: 'GET', target: '/dup', headers: [['X-Dup', 'a'], ['Accept', 'text/html'], ['x-dup', 'b'], ['Accept', '*/*']] },
  { name: 'a 12 KB header', method: 'GET', target: '/long', headers: [['X-Long', 'v'.repeat(12_000)]] },
  { name: '100 headers', method: 'GET', target: '/many', headers: Array.from({ length: 100 }, (_, i) => [`X-H-${i}`, `value ${i}`] as const) },
  {
    name: 'hop-by-hop headers and the names Connection lists', method: 'GET', target: '/hop', headers: [
      ['Connection', 'X-Hop, close'], ['X-Hop', '1'], ['Keep-Alive', 'timeout=5'], ['TE', 'trailers'], ['Proxy-Connection', 'keep-alive'], ['X-Kept', 'yes'],
    ],
  },
  { name: 'POST with a Content-Length body of every byte', method: 'POST', target: '/post', body: { framing: 'length', bytes: ALL_BYTES } },
  { name: 'POST with a chunked body', method: 'POST', target: '/chunked', body: { framing: 'chunked', bytes: Buffer.concat([ALL_BYTES, Buffer.from('\r\n0\r\n\r\n')]) } },
  { name: 'POST with an empty chunked body', method: 'POST', target: '/chunked-empty', body: { framing: 'chunked', bytes: Buffer.alloc(0) } },
  { name: 'PUT with Content-Length 0', method: 'PUT', target: '/empty', body: { framing: 'length', bytes: Buffer.alloc(0) } },
  { name: 'PATCH with a body', method: 'PATCH', target: '/patch', headers: [['Content-Type', 'application/json']], body: { framing: 'length', bytes: Buffer.from('{"a":1}') } },
  { name: 'DELETE', method: 'DELETE', target: '/thing/1' },
  { name: 'OPTIONS', method: 'OPTIONS', target: '/options' },
  { name: 'PROPFIND', method: 'PROPFIND', target: '/dav/', headers: [['Depth', '1']] },
];

/** The client's exact bytes: Host first, its headers, the body's framing, then Connection: close. */
function clientBytes(r: Request): Buffer {
  let head = `${r.method} ${r.target} HTTP/1.1\r\nHost: localhost\r\n`;
  for (const [name, value] of r.headers ?? []) head += `${name}: ${value}\r\n`;
  const hasConnection = (r.headers ?? []).some(([name]) => name.toLowerCase() === 'connection');
  if (!hasConnection) head += 'Connection: close\r\n';
  if (r.body === undefined) return Buffer.from(`${head}\r\n`, 'latin1');
  if (r.body.framing === 'length') return Buffer.concat([Buffer.from(`${head}Content-Length: ${r.body.bytes.length}\r\n\r\n`, 'latin1'), r.body.bytes]);
  // Two chunks (one with an extension), so re-chunking is exercised, then the last chunk.
  const half = r.body.bytes.length >> 1;
  const pieces = [r.body.bytes.subarray(0, half), r.body.bytes.subarray(half)].filter((p) => p.length > 0);
  const chunks = pieces.flatMap((p, i) => [Buffer.from(`${p.length.toString(16)}${i === 0 ? ';ext=1' : ''}\r\n`), p, Buffer.from('\r\n')]);
  return Buffer.concat([Buffer.from(`${head}Transfer-Encoding: chunked\r\n\r\n`, 'latin1'), ...chunks, Buffer.from('0\r\n\r\n')]);
}

/** Plain TCP: write, read until the server closes. */
function direct(port: number, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port }, () => socket.end(bytes));
    socket.on('data', () => undefined);
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
}

const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade'];
const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded'];

/** Headers as they should survive a hop: without hop-by-hop ones, those Connection lists, and the forwarded ones. */
function endToEnd(parsed: Parsed, connection: string | undefined): Record<string, unknown> {
  const drop = new Set([...HOP_BY_HOP, ...FORWARDED, ...(connection ?? '').split(',').map((s) => s.trim().toLowerCase())]);
  return Object.fromEntries(Object.entries(parsed.headers).filter(([name]) => !drop.has(name)));
}

t.test('llhttp reads what Gatehouse wrote as it reads what the client sent', async (t) => {
  const parsedUp = await llhttpUpstream(t);
  const bytesUp = await bytesUpstream(t);
  const toParsed = await startEdge(t, basicConfig([`127.0.0.1:${parsedUp.port}`]));
  const toBytes = await startEdge(t, basicConfig([`127.0.0.1:${bytesUp.port}`]));
  for (const r of REQUESTS) {
    await t.test(r.name, async (t) => {
      const bytes = clientBytes(r);
      await direct(parsedUp.port, bytes);
      const sent = await parsedUp.next();
      const reply = await rawTls(toParsed.port, bytes);
      t.match(reply, /^HTTP\/1\.1 200 /, 'the edge answered with the upstream\'s 200');
      const proxied = await parsedUp.next();
      t.equal(proxied.method, sent.method, 'method');
      t.equal(proxied.url, sent.url, 'request-target, byte for byte');
      t.same(proxied.body, sent.body, 'body bytes');
      t.same(endToEnd(proxied, undefined), endToEnd(sent, typeof sent.headers.connection === 'string' ? sent.headers.connection : undefined), 'end-to-end headers');
      t.equal(proxied.headers['x-forwarded-for'], '127.0.0.1');
      t.equal(proxied.headers['x-forwarded-proto'], 'https');
      t.equal(proxied.headers['x-forwarded-host'], 'localhost');

      await rawTls(toBytes.port, bytes);
      const wire = await bytesUp.next();
      const headEnd = wire.indexOf('\r\n\r\n') + 4;
      const head = wire.toString('latin1', 0, headEnd);
      t.equal(head.slice(0, head.indexOf('\r\n')), `${r.method} ${r.target} HTTP/1.1`, 'request line: the target byte for byte');
      t.notOk(/[^\r]\n/.test(head), 'no bare LF in the head');
      const names = head.split('\r\n').slice(1).map((line) => line.slice(0, line.indexOf(':')).toLowerCase());
      t.notOk(names.includes('content-length') && names.includes('transfer-encoding'), 'never Content-Length beside Transfer-Encoding');
      t.ok(names.filter((n) => n === 'content-length').length <= 1, 'at most one Content-Length');
      t.ok(names.filter((n) => n === 'transfer-encoding').length <= (r.body?.framing === 'chunked' ? 1 : 0), 'Transfer-Encoding only for a chunked body');
    });
  }
});
