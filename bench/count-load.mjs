// Fixed-count load for the bench's count mode (`npm run bench -- --count N`): exactly N
// operations through the edge, so the edge's CPU time divided by N is a cost per operation that
// does not depend on how fast this machine happened to run during the load.
//
//   node bench/count-load.mjs --mode=keepalive|handshake|websocket|h2 --port=P --count=N
//        --connections=C [--streams=M] [--ca=FILE] [--path=/cached/hit]
//
// Connections (keep-alive, WebSocket, h2) are opened first, then it prints {"ready":true} and
// waits for a line on stdin, so the caller reads the edge's CPU clock between set-up and load.
// Then it runs the N operations (handshake: N new TLS connections with one request each) and
// prints {"ops","errors","seconds"}. Every answer is read to its last byte before the next
// request on that connection (the keep-alive parser trusts Content-Length: the bench backend's).
import { readFileSync } from 'node:fs';
import { connect as h2connect } from 'node:http2';
import { connect } from 'node:tls';
import WebSocket from 'ws';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const mode = args.mode ?? 'keepalive';
const port = Number(args.port);
const count = Number(args.count ?? 10_000);
const connections = Math.max(1, Math.min(count, Number(args.connections ?? 10)));
const streams = Number(args.streams ?? 1);
const ca = args.ca ? readFileSync(args.ca) : undefined;
const tls = { host: '127.0.0.1', port, servername: 'localhost', ca, rejectUnauthorized: ca !== undefined };
const REQUEST = `GET ${args.path ?? '/'} HTTP/1.1\r\nHost: localhost\r\n\r\n`;
const CLOSE = 'GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n';

let issued = 0;
let done = 0;
let errors = 0;
const take = () => (issued < count ? ++issued : 0);

/** Calls `onAnswer` once per complete HTTP/1.1 answer on `socket` (head, then Content-Length bytes). */
function answers(socket, onAnswer) {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk]);
    for (;;) {
      const end = pending.indexOf('\r\n\r\n');
      if (end === -1) return;
      const length = Number(/content-length: *(\d+)/i.exec(pending.toString('latin1', 0, end))?.[1] ?? 0);
      if (pending.length < end + 4 + length) return;
      if (pending.toString('latin1', 9, 12) !== '200') errors++;
      pending = pending.subarray(end + 4 + length);
      onAnswer();
    }
  });
}

function openTls() {
  return new Promise((resolve, reject) => {
    const socket = connect({ ...tls, ALPNProtocols: ['http/1.1'] }, () => resolve(socket));
    socket.once('error', reject);
  });
}

/** Opens the long-lived connections of a mode; returns run(): a promise of the N operations. */
async function prepare() {
  if (mode === 'keepalive') {
    const sockets = await Promise.all(Array.from({ length: connections }, openTls));
    return () => Promise.all(sockets.map((socket) => new Promise((resolve) => {
      answers(socket, () => { done++; if (take()) socket.write(REQUEST); else resolve(); });
      socket.on('error', () => { errors++; resolve(); });
      if (take()) socket.write(REQUEST); else resolve();
    }))).then(() => { for (const s of sockets) s.destroy(); });
  }
  if (mode === 'handshake') {
    const one = () => new Promise((resolve) => {
      const socket = connect({ ...tls, ALPNProtocols: ['http/1.1'] }, () => socket.write(CLOSE));
      answers(socket, () => { done++; socket.end(); });
      socket.on('error', () => { errors++; });
      socket.on('close', resolve);
    });
    const lane = async () => { while (take()) await one(); };
    return () => Promise.all(Array.from({ length: connections }, lane));
  }
  if (mode === 'websocket') {
    const payload = Buffer.alloc(1024, 'm');
    const sockets = await Promise.all(Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const ws = new WebSocket(`wss://127.0.0.1:${port}/`, { ...tls, origin: 'https://localhost', perMessageDeflate: false });
      ws.once('open', () => resolve(ws));
      ws.once('error', reject);
    })));
    return () => Promise.all(sockets.map((ws) => new Promise((resolve) => {
      ws.on('message', () => { done++; if (take()) ws.send(payload); else resolve(); });
      ws.on('error', () => { errors++; resolve(); });
      if (take()) ws.send(payload); else resolve();
    }))).then(() => { for (const ws of sockets) ws.terminate(); });
  }
  if (mode === 'h2') {
    const sessions = await Promise.all(Array.from({ length: connections }, () => new Promise((resolve, reject) => {
      const session = h2connect(`https://localhost:${port}`, { ...tls, ALPNProtocols: ['h2'] }, () => resolve(session));
      session.once('error', reject);
    })));
    const stream = (session) => new Promise((resolve) => {
      const req = session.request({ ':path': '/', ':authority': 'localhost' });
      req.on('response', (h) => { if (h[':status'] !== 200) errors++; });
      req.on('data', () => {});
      req.on('end', () => { done++; resolve(); });
      req.on('error', () => { errors++; resolve(); });
    });
    const lane = async (session) => { while (take()) await stream(session); };
    return () => Promise.all(sessions.flatMap((s) => Array.from({ length: streams }, () => lane(s)))).then(() => { for (const s of sessions) s.destroy(); });
  }
  throw new Error(`unknown mode ${mode}`);
}

// Bounded: whatever happens, this process is gone after 10 minutes.
setTimeout(() => { console.log(JSON.stringify({ ops: done, errors: errors + 1, seconds: NaN, timedOut: true })); process.exit(1); }, 600_000).unref();
const run = await prepare();
console.log(JSON.stringify({ ready: true }));
await new Promise((resolve) => process.stdin.once('data', resolve));
const t0 = performance.now();
await run();
console.log(JSON.stringify({ ops: done, errors, seconds: (performance.now() - t0) / 1000 }));
process.exit(0);
