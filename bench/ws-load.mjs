// WebSocket relay load: N connections each ping-pong a fixed-size message through the edge
// for a bounded time; prints {"messages","seconds","p50Ms","p99Ms","errors"} as JSON.
// Also the idle mode: open N connections, report when all are open, hold until stdin closes.
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const args = Object.fromEntries(process.argv.slice(2).map((a) => a.replace(/^--/, '').split('=')));
const url = args.url;
const connections = Number(args.connections ?? 50);
const size = Number(args.size ?? 1024);
const seconds = Number(args.seconds ?? 10);
const origin = args.origin;
const ca = args.ca ? readFileSync(args.ca) : undefined;
const idle = args.mode === 'idle';
const payload = Buffer.alloc(size, 'm');

function open() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { ca, servername: args.servername ?? 'localhost', perMessageDeflate: false, ...(origin ? { origin } : {}) });
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
  });
}

const sockets = [];
let errors = 0;
for (let i = 0; i < connections; i += 200) {
  const batch = await Promise.allSettled(Array.from({ length: Math.min(200, connections - i) }, open));
  for (const r of batch) if (r.status === 'fulfilled') sockets.push(r.value); else errors++;
}
if (idle) {
  console.log(JSON.stringify({ open: sockets.length, errors }));
  process.stdin.resume();
  process.stdin.on('end', () => { for (const s of sockets) s.terminate(); process.exit(0); });
  setTimeout(() => process.exit(0), 120_000).unref(); // bounded even if nobody closes stdin
} else {
  const latencies = [];
  let messages = 0;
  const end = performance.now() + seconds * 1000;
  await Promise.all(sockets.map((ws) => new Promise((resolve) => {
    let sent = 0;
    const next = () => {
      if (performance.now() >= end) { resolve(); return; }
      sent = performance.now();
      ws.send(payload);
    };
    ws.on('message', () => {
      messages++;
      latencies.push(performance.now() - sent);
      next();
    });
    ws.on('error', () => { errors++; resolve(); });
    ws.on('close', () => resolve());
    next();
  })));
  latencies.sort((a, b) => a - b);
  const pick = (q) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  console.log(JSON.stringify({ messages, seconds, p50Ms: pick(0.5), p99Ms: pick(0.99), errors }));
  for (const s of sockets) s.terminate();
}
