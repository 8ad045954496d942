// Node's floor for the bench's loads: the least a Node process does for the same work, so that
// Gatehouse's figures can be split into what Node costs and what Gatehouse adds. It is not a
// proxy anyone should run: it trusts the bench backend's exact answer (a head, then a body of
// Content-Length bytes), parses nothing else, logs nothing and checks nothing.
//
//   node bench/floor.mjs relay|answer|h2-compat|h2-stream|h2-relay|tls-relay PORT CERT KEY BACKEND...
//
// relay:  Node's https server; each request goes to the backend over a pooled raw TCP socket
//         (one request head written, the answer read back) and is answered with the backend's
//         body and HSTS; an upgrade is relayed as raw bytes both ways (socket.pipe), which is
//         all a WebSocket tunnel needs.
// answer: Node's https server answering the 100 bytes itself, no upstream at all: the cost of
//         Node's TLS and HTTP server alone, below which no Node proxy on it can go.
// h2-compat, h2-stream: Node's HTTP/2 server answering the 100 bytes itself, through the
//         compatibility API (request/response objects, which Gatehouse's h2 front door uses)
//         or the core stream API: what the compatibility layer costs per request.
// h2-relay: Node's HTTP/2 server on the core stream API, each stream relayed to the backend
//         over the same pooled raw TCP sockets as relay: the least an h2 proxy on Node costs.
// tls-relay: no HTTP server at all: each TLS connection's requests are cut out of its bytes as
//         the upstream answers are (find the blank line; the request line and Host), relayed the
//         same way, and answered with a head written by hand (the fields Node's would have).
//         relay ÷ this is what Node's HTTP server machinery (IncomingMessage, ServerResponse,
//         header checks, timers) costs per keep-alive request. GET/HEAD without a body only;
//         no upgrades: a measuring stick for keep-alive, nothing to run.
import { readFileSync } from 'node:fs';
import { createSecureServer } from 'node:http2';
import { createServer } from 'node:https';
import { connect } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';

const [mode, port, cert, key, ...backends] = process.argv.slice(2);
const HSTS = 'max-age=31536000; includeSubDomains';
const BODY = Buffer.alloc(100, 'x');
const [host, backendPort] = backends[0].split(':');

/** Idle upstream sockets, warmest first; each carries one request at a time. */
const idle = [];

function exchange(req, res) {
  const upstream = idle.pop() ?? openUpstream();
  upstream.answer = (head, body) => {
    res.writeHead(200, ['content-type', head.type, 'content-length', String(body.length), 'strict-transport-security', HSTS]);
    res.end(body);
    idle.push(upstream);
  };
  upstream.write(`${req.method} ${req.url} HTTP/1.1\r\nhost: ${req.headers.host}\r\nx-forwarded-for: ${req.socket.remoteAddress}\r\nx-forwarded-proto: https\r\n\r\n`, 'latin1');
}

/** The same relay for one h2 stream: its pseudo-headers make the HTTP/1.1 request line. */
function streamExchange(stream, headers) {
  const upstream = idle.pop() ?? openUpstream();
  upstream.answer = (head, body) => {
    // A stream the client reset meanwhile is dropped; the upstream socket is still clean.
    if (!stream.destroyed) {
      stream.respond({ ':status': 200, 'content-type': head.type, 'content-length': String(body.length), 'strict-transport-security': HSTS });
      stream.end(body);
    }
    idle.push(upstream);
  };
  upstream.write(`${headers[':method']} ${headers[':path']} HTTP/1.1\r\nhost: ${headers[':authority']}\r\nx-forwarded-for: ${stream.session?.socket?.remoteAddress}\r\nx-forwarded-proto: https\r\n\r\n`, 'latin1');
}

function openUpstream() {
  const socket = connect(Number(backendPort), host);
  socket.setNoDelay(true);
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    const end = pending.indexOf('\r\n\r\n');
    if (end === -1) return;
    const head = pending.toString('latin1', 0, end);
    const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
    if (pending.length < end + 4 + length) return;
    const body = pending.subarray(end + 4, end + 4 + length);
    pending = pending.subarray(end + 4 + length);
    socket.answer({ type: /content-type: *([^\r]+)/i.exec(head)?.[1] ?? 'text/plain' }, body);
  });
  socket.on('error', () => socket.destroy());
  socket.on('close', () => {
    const i = idle.indexOf(socket);
    if (i !== -1) idle.splice(i, 1);
  });
  return socket;
}

function tunnel(req, client, head) {
  const upstream = connect(Number(backendPort), host);
  const lines = [`${req.method} ${req.url} HTTP/1.1`];
  for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
  upstream.write(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  if (head.length > 0) upstream.write(head);
  upstream.setNoDelay(true);
  client.setNoDelay(true);
  client.pipe(upstream).pipe(client);
  for (const s of [client, upstream]) s.on('error', () => { client.destroy(); upstream.destroy(); });
  for (const s of [client, upstream]) s.on('close', () => { client.destroy(); upstream.destroy(); });
}

/** One TLS connection's requests, one at a time in order, each answered before the next is relayed. */
function tlsRelay(client) {
  client.setNoDelay(true);
  let pending = Buffer.alloc(0);
  let busy = false;
  const next = () => {
    const end = busy ? -1 : pending.indexOf('\r\n\r\n');
    if (end === -1) return;
    const head = pending.toString('latin1', 0, end);
    pending = pending.subarray(end + 4);
    const line = head.slice(0, head.indexOf('\r\n'));
    const host = /\r\nhost: *([^\r]*)/i.exec(head)?.[1] ?? '';
    busy = true;
    const upstream = idle.pop() ?? openUpstream();
    upstream.answer = (answer, body) => {
      client.cork();
      client.write(`HTTP/1.1 200 OK\r\ncontent-type: ${answer.type}\r\ncontent-length: ${body.length}\r\nstrict-transport-security: ${HSTS}\r\ndate: ${new Date().toUTCString()}\r\nconnection: keep-alive\r\nkeep-alive: timeout=60\r\n\r\n`, 'latin1');
      client.write(body);
      client.uncork();
      idle.push(upstream);
      busy = false;
      next();
    };
    upstream.write(`${line}\r\nhost: ${host}\r\nx-forwarded-for: ${client.remoteAddress}\r\nx-forwarded-proto: https\r\n\r\n`, 'latin1');
  };
  client.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    next();
  });
  client.on('error', () => client.destroy());
}

const tls = { cert: readFileSync(cert), key: readFileSync(key), minVersion: 'TLSv1.3' };
if (mode === 'tls-relay') createTlsServer({ ...tls, ALPNProtocols: ['http/1.1'] }, tlsRelay).listen(Number(port), '127.0.0.1');
if (mode.startsWith('h2-')) {
  const h2 = createSecureServer({ ...tls, ALPNProtocols: ['h2'] });
  const headers = { 'content-type': 'text/plain', 'content-length': '100', 'strict-transport-security': HSTS };
  if (mode === 'h2-compat') h2.on('request', (req, res) => res.writeHead(200, headers).end(BODY));
  else if (mode === 'h2-relay') h2.on('stream', streamExchange);
  else h2.on('stream', (stream) => { stream.respond({ ':status': 200, ...headers }); stream.end(BODY); });
  h2.on('stream', (stream) => stream.on('error', () => stream.destroy()));
  h2.listen(Number(port), '127.0.0.1');
}
const server = createServer({ ...tls, ALPNProtocols: ['http/1.1'], keepAliveTimeout: 60_000 });
server.on('request', mode === 'answer'
  ? (req, res) => {
    res.writeHead(200, ['content-type', 'text/plain', 'content-length', '100', 'strict-transport-security', HSTS]);
    res.end(BODY);
  }
  : exchange);
server.on('upgrade', tunnel);
server.on('clientError', (err, socket) => socket.destroy());
if (!mode.startsWith('h2-') && mode !== 'tls-relay') server.listen(Number(port), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
