// The load of bench/ratelimit.mjs (issue 23), in its own process so nothing else shares its event
// loop: an open-model schedule of pipelined HTTP/1.1 keep-alive requests over raw TLS sockets.
//
//   node bench/ratelimit-load.mjs --ports=P[,P2] --addresses=20 --offered=5000 --seconds=10
//        --connections=2 --in-flight=64 --ca=FILE
//
// Per client address (127.0.0.10 + i, as `localAddress`) it opens `connections` sockets to every
// port, one after another, then prints {"ready":true,"sockets":[{address,localPort,port}]} (so the
// caller can see which worker accepted which socket) and waits for a line on stdin: "go", or
// {"more":[address…]} for one more socket of each address named, then ready again. Then, every
// 10 ms tick, each address sends what the schedule owes it (offered ÷ addresses per second, from
// the start, so a late tick catches up instead of lowering the rate), spread over its sockets in
// turn, as ONE write of pipelined `GET /` requests per socket. A socket never holds more than
// `in-flight` unanswered requests: what does not fit is counted `unsent`, never queued. After the
// last tick it waits (at most 5 s) for the answers and prints, per address, what was sent,
// answered 200 / 429 / otherwise, unsent, lost (unanswered when the socket closed or the wait
// ended), and the seconds from its first request to its last.
//
// The answer parser reads only the status line and Content-Length (the bench backend's answers
// and Gatehouse's 429s both carry it), and skips the body: a few µs per answer, so the offered
// rate is the schedule's and not what a heavier client could keep up with.
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { connect } from 'node:tls';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const ports = String(args.ports).split(',').map(Number);
const ADDRESSES = Number(args.addresses ?? 20);
const OFFERED = Number(args.offered ?? 5000);
const SECONDS = Number(args.seconds ?? 10);
const CONNECTIONS = Math.max(1, Number(args.connections ?? 2));
const IN_FLIGHT = Math.max(1, Number(args['in-flight'] ?? 64));
const ca = readFileSync(args.ca);
const TICK_MS = 10;
/** ms from a request's write to its answer, every answered request. */
const latencies = [];
const REQUEST = 'GET / HTTP/1.1\r\nHost: localhost\r\n\r\n';
/** One string per batch size: a tick's write is a lookup, not a concatenation. */
const BATCH = Array.from({ length: IN_FLIGHT + 1 }, (_, n) => Buffer.from(REQUEST.repeat(n), 'latin1'));

/** Counts answers off one socket: status line and Content-Length only, body skipped. */
function reader(conn, tally) {
  let pending = null;
  let skip = 0; // body bytes of the current answer still to come
  return (chunk) => {
    let buf = chunk;
    if (skip > 0) {
      if (buf.length <= skip) { skip -= buf.length; return; }
      buf = buf.subarray(skip);
      skip = 0;
    }
    if (pending !== null) { buf = Buffer.concat([pending, buf]); pending = null; }
    let at = 0;
    for (;;) {
      const end = buf.indexOf('\r\n\r\n', at, 'latin1');
      if (end === -1) { if (at < buf.length) pending = buf.subarray(at); return; }
      const status = buf.toString('latin1', at + 9, at + 12);
      const head = buf.toString('latin1', at, end);
      const m = /\r\ncontent-length: *(\d+)/i.exec(head);
      if (status === '200') tally.served++; else if (status === '429') tally.limited++; else tally.other++;
      if (m === null && status !== '304' && status !== '204') tally.unframed++;
      conn.inFlight--;
      // Answers come in request order (RFC 9112 §9.3.2): the oldest write still owed one is this one's.
      const now = performance.now();
      latencies.push(now - conn.writes[conn.head]);
      if (--conn.owed[conn.head] === 0) conn.head++;
      tally.lastAnswer = now;
      const bodyEnd = end + 4 + (m === null ? 0 : Number(m[1]));
      if (bodyEnd > buf.length) { skip = bodyEnd - buf.length; return; }
      at = bodyEnd;
    }
  };
}

function open(port, localAddress, tally) {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, localAddress, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'] }, () => {
      socket.off('error', reject);
      socket.setNoDelay(true);
      const conn = { socket, port, inFlight: 0, sent: 0, unsent: 0, closed: false, writes: [], owed: [], head: 0 };
      socket.on('data', reader(conn, tally));
      socket.on('error', () => {});
      socket.on('close', () => { conn.closed = true; tally.lost += conn.inFlight; conn.inFlight = 0; });
      resolve(conn);
    });
    socket.once('error', reject);
  });
}

const tallies = [];
for (let a = 0; a < ADDRESSES; a++) {
  const address = `127.0.0.${10 + a}`;
  const tally = { address, sent: 0, served: 0, limited: 0, other: 0, unframed: 0, unsent: 0, lost: 0, due: 0, turn: 0, first: NaN, last: NaN, lastAnswer: NaN, conns: [] };
  // One after another, interleaving the ports: an address's requests alternate between instances.
  for (let c = 0; c < CONNECTIONS; c++) for (const port of ports) tally.conns.push(await open(port, address, tally));
  tallies.push(tally);
}
// Ready, then either "go" or {"more":[address…]}: one more socket for each address named (the
// caller found all of its sockets on one worker), and ready again.
const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]();
for (;;) {
  const sockets = tallies.flatMap((t) => t.conns.map((c) => ({ address: t.address, localPort: c.socket.localPort, port: c.port })));
  process.stdout.write(`${JSON.stringify({ ready: true, sockets })}\n`);
  const { value, done } = await lines.next();
  if (done || value.trim() === 'go') break;
  for (const address of JSON.parse(value).more) {
    const t = tallies.find((x) => x.address === address);
    t.conns.push(await open(ports[0], address, t));
  }
}
const cpuBefore = process.cpuUsage();

const perAddress = OFFERED / ADDRESSES;
const start = performance.now();
let ticks = 0;
let lateTicks = 0;
await new Promise((resolve) => {
  let previous = start;
  const timer = setInterval(() => {
    const now = performance.now();
    ticks++;
    if (now - previous > 3 * TICK_MS) lateTicks++;
    previous = now;
    const elapsed = (now - start) / 1000;
    const last = elapsed >= SECONDS;
    const upTo = last ? SECONDS : elapsed;
    for (const t of tallies) {
      const want = Math.floor(perAddress * upTo) - t.due;
      if (want <= 0) continue;
      t.due += want;
      // This tick's share of each socket, in turn, then one write per socket.
      const n = t.conns.length;
      const counts = new Array(n).fill(0);
      for (let i = 0; i < want; i++) counts[t.turn++ % n]++;
      for (let i = 0; i < n; i++) {
        const conn = t.conns[i];
        if (counts[i] === 0) continue;
        const room = conn.closed ? 0 : Math.min(counts[i], IN_FLIGHT - conn.inFlight);
        t.unsent += counts[i] - room;
        conn.unsent += counts[i] - room;
        if (room <= 0) continue;
        conn.inFlight += room;
        conn.sent += room;
        t.sent += room;
        conn.writes.push(now);
        conn.owed.push(room);
        conn.socket.write(BATCH[room]);
        if (Number.isNaN(t.first)) t.first = now;
        t.last = now;
      }
    }
    if (last) { clearInterval(timer); resolve(); }
  }, TICK_MS);
});
const sendSeconds = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpuBefore);

// Every answer in, bounded: 5 s.
const inFlight = () => tallies.reduce((n, t) => n + t.conns.reduce((m, c) => m + c.inFlight, 0), 0);
for (let i = 0; i < 500 && inFlight() > 0; i++) await new Promise((r) => setTimeout(r, 10));
for (const t of tallies) {
  for (const c of t.conns) { t.lost += c.inFlight; c.inFlight = 0; c.socket.destroy(); }
}
// seconds: first request to last (the budget's window as sent); answerSeconds: first request to
// last answer (the edge decided every request inside it, so the window it saw is no longer).
const rows = tallies.map(({ address, sent, served, limited, other, unframed, unsent, lost, first, last, lastAnswer }) => ({
  address, sent, served, limited, other, unframed, unsent, lost, seconds: (last - first) / 1000, answerSeconds: (lastAnswer - first) / 1000,
}));
latencies.sort((a, b) => a - b);
const at = (q) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] * 10) / 10;
const latencyMs = { p50: at(0.5), p99: at(0.99), max: at(1) };
// Per instance: an edge that stalls shows here as unsent on its port alone.
const perPort = ports.map((port) => {
  const conns = tallies.flatMap((t) => t.conns.filter((c) => c.port === port));
  return { port, sent: conns.reduce((n, c) => n + c.sent, 0), unsent: conns.reduce((n, c) => n + c.unsent, 0) };
});
process.stdout.write(`${JSON.stringify({ rows, perPort, latencyMs, sendSeconds, ticks, lateTicks, cpuSeconds: (cpu.user + cpu.system) / 1e6 })}\n`);
process.exit(0);
