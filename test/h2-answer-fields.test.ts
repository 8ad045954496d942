// The answer's head on h2, field by field as it goes on the wire (the object stream.respond()
// takes, made from the upstream's raw list): the same fields, values and order whatever the route's
// shaper does, hop-by-hop and Connection-listed names dropped (RFC 9113 §8.2.2), Set-Cookie and
// repeated names kept as separate fields, HSTS the edge's own, Location moved, the header rules
// applied; and the same answers over HTTP/1.1 (the list path) for comparison.
import type { ClientHttp2Session, OutgoingHttpHeaders } from 'node:http2';
import t from 'tap';
import { HSTS, startEdge } from './helpers/edge.js';
import { h2Session } from './helpers/h2.js';
import { get, rawUpstream } from './helpers/net.js';
import { within } from './helpers/wait.js';

const DATE = 'Mon, 07 Dec 2026 10:00:00 GMT';

/** The raw head each path gets from the upstream ({up} is the upstream's own address). */
const HEADS: Record<string, string> = {
  '/mixed': 'HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nSet-Cookie: a=1\r\nX-Dup: 1\r\nSet-Cookie: b=2; Path=/\r\n' +
    'Strict-Transport-Security: max-age=0\r\nConnection: keep-alive, X-Secret\r\nX-Secret: s\r\nKeep-Alive: timeout=5\r\n' +
    `x-dup: 2\r\nDate: ${DATE}\r\nTE: trailers\r\nContent-Length: 5\r\n\r\nhello`,
  '/moved': 'HTTP/1.1 302 Found\r\nLocation: http://{up}/next?q=1\r\nContent-Location: http://{up}/here\r\nRefresh: 5; url=http://{up}/r\r\n' +
    'X-Other: http://{up}/kept\r\nContent-Length: 0\r\n\r\n',
  '/empty': 'HTTP/1.1 204 No Content\r\nContent-Length: 0\r\nX-Kept: yes\r\n\r\n',
  '/ruled/x': 'HTTP/1.1 200 OK\r\nX-Frame-Options: SAMEORIGIN\r\nServer: app/1\r\nLink: </a.js>; rel=preload\r\nX-Last: 1\r\n' +
    'Content-Length: 2\r\n\r\nok',
  '/proto': 'HTTP/1.1 200 OK\r\nConstructor: c\r\ntoString: s\r\n__proto__: p\r\nX-Last: 1\r\nContent-Length: 2\r\n\r\nok',
};

/**
 * One h2 request; the fields exactly as the frame carried them (the client's raw list), :status
 * first; without Node's own `date` when the upstream sent none (its value is the clock's).
 */
async function h2Fields(session: ClientHttp2Session, path: string, dated = false): Promise<string[]> {
  const raw = await h2Raw(session, path);
  if (dated) return raw;
  const at = raw.lastIndexOf('date');
  return at === raw.length - 2 ? raw.slice(0, at) : raw;
}

function h2Raw(session: ClientHttp2Session, path: string): Promise<string[]> {
  const headers: OutgoingHttpHeaders = { ':path': path, ':authority': 'localhost' };
  return within(10_000, new Promise((resolve, reject) => {
    const stream = session.request(headers);
    let raw: string[] = [];
    // Node hands the raw field list as the listener's third argument.
    stream.on('response', (...args: unknown[]) => { raw = args[2] as string[]; });
    stream.on('data', () => undefined);
    stream.on('end', () => resolve(raw));
    stream.on('error', reject);
  }), `the h2 answer to ${path}`);
}

t.test('the h2 answer head: fields, values and order as before, on every shaper path', async (t) => {
  const upstream = await rawUpstream(t, (socket, data) => {
    const path = (/^GET (\S+)/.exec(data)?.[1] ?? '').replace(/^\/zip\//, '/');
    socket.write((HEADS[path] ?? 'HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n').replaceAll('{up}', upstream.address));
  });
  const { port } = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app: { targets: ["${upstream.address}"] }
sites:
  - hosts: [localhost]
    routes:
      - path: /ruled/
        upstream: app
        headers:
          response:
            - { set: { X-Frame-Options: DENY }, add: { Link: "</b.css>; rel=preload", X-New: "n" }, remove: [Server] }
            - { set: { X-Never: "no" }, statuses: [404] }
      - path: /zip/
        upstream: app
        compress: true
      - path: /
        upstream: app
`);
  const session = await h2Session(t, port);
  const edge = `https://localhost:${port}`;

  t.strictSame(await h2Fields(session, '/mixed', true), [
    ':status', '200', 'content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2; Path=/', 'x-dup', '1', 'x-dup', '2',
    'date', DATE, 'content-length', '5', 'strict-transport-security', HSTS,
  ], 'hop-by-hop, Connection-listed and TE dropped; Set-Cookie and x-dup separate fields at the first one\'s place; HSTS the edge\'s, last');
  t.strictSame(await h2Fields(session, '/moved'), [
    ':status', '302', 'location', `${edge}/next?q=1`, 'content-location', `${edge}/here`, 'refresh', `5; url=${edge}/r`,
    'x-other', `http://${upstream.address}/kept`, 'content-length', '0', 'strict-transport-security', HSTS,
  ], 'Location, Content-Location and Refresh moved to the client-facing origin (rewriteLocation), in place');
  const empty = await h2Fields(session, '/empty');
  t.strictSame(empty.filter((_, i) => i % 2 === 0), [':status', 'x-kept', 'strict-transport-security'], 'a 204 loses its Content-Length');
  t.strictSame(await h2Fields(session, '/ruled/x'), [
    ':status', '200', 'link', '</a.js>; rel=preload', 'link', '</b.css>; rel=preload', 'x-last', '1', 'content-length', '2',
    'strict-transport-security', HSTS, 'x-frame-options', 'DENY', 'x-new', 'n',
  ], 'rules: remove drops, set replaces and goes after the upstream\'s fields, add joins the name in place, a 404 block is skipped');
  const proto = await h2Fields(session, '/proto');
  const protoNames = [':status', 'constructor', 'tostring', '__proto__', 'x-last', 'content-length', 'strict-transport-security'];
  t.strictSame(proto.filter((_, i) => i % 2 === 0), protoNames, 'names that Object.prototype has are fields like any other (before issue 26\'s change: a 502 on h2 alone)');
  t.strictSame([proto[proto.indexOf('constructor') + 1], proto[proto.indexOf('__proto__') + 1]], ['c', 'p']);
  // A compressing route builds the list first (compressPairs), then the object (headerObject).
  const zip = await h2Fields(session, '/zip/proto');
  t.strictSame(zip.filter((_, i) => i % 2 === 0), protoNames, 'the same through the list path');
  session.close();

  // The same answers over HTTP/1.1 keep the upstream's case and order (the list path).
  const mixed = await get(port, '/mixed');
  t.strictSame(mixed.rawHeaders.filter((_, i) => i % 2 === 0), [
    'Content-Type', 'Set-Cookie', 'X-Dup', 'Set-Cookie', 'x-dup', 'Date', 'Content-Length', 'strict-transport-security', 'Connection',
  ], 'h1: the upstream\'s fields in order, then HSTS, then Node\'s own Connection');
  const ruled = await get(port, '/ruled/x');
  t.strictSame(ruled.rawHeaders.filter((_, i) => i % 2 === 0), [
    'Link', 'X-Last', 'Content-Length', 'strict-transport-security', 'x-frame-options', 'link', 'x-new', 'Date', 'Connection',
  ], 'h1: the rules\' fields after the upstream\'s');
  t.equal((await get(port, '/proto')).headers.constructor, 'c' as unknown);
});
