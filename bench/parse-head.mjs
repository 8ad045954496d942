#!/usr/bin/env node
// `node bench/parse-head.mjs [--ref DIR] [--rounds 8]` (after `npm run build`): the upstream
// response parser alone, CPU ns per response (a head and a 100-byte body through
// ResponseParser.execute) for three heads: the bench backend's (Node's own 5 fields), an
// nginx-like 12 fields, and a chunked one. `--ref DIR`: a built tree of another commit
// (`git worktree add /tmp/ref main && cd /tmp/ref && npm ci && npm run build`) run interleaved
// with this one (A B, B A, …), and the per-round ratio this ÷ ref reported as median (min–max).
import { parseArgs } from 'node:util';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';

const { values } = parseArgs({ options: { ref: { type: 'string' }, rounds: { type: 'string', default: '8' }, n: { type: 'string', default: '200000' } } });
const load = async (dir) => (await import(pathToFileURL(resolve(dir, 'dist/upstream/response-parser.js')).href)).ResponseParser;
const targets = [['this', await load('.')]];
if (values.ref !== undefined) targets.push(['ref', await load(values.ref)]);

const BODY = 'x'.repeat(100);
const DATE = 'Mon, 07 Dec 2026 09:45:47 GMT';
const HEADS = {
  'bench backend (5 fields)': `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 100\r\nDate: ${DATE}\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n${BODY}`,
  'nginx-like (12 fields)': `HTTP/1.1 200 OK\r\nServer: nginx/1.24.0\r\nDate: ${DATE}\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: 100\r\nConnection: keep-alive\r\nVary: Accept-Encoding\r\nCache-Control: public, max-age=3600\r\nLast-Modified: ${DATE}\r\nETag: "6571a2b0-64"\r\nSet-Cookie: session=abcdef0123456789abcdef0123456789; Path=/; HttpOnly; Secure; SameSite=Lax\r\nX-Frame-Options: SAMEORIGIN\r\nAccept-Ranges: bytes\r\n\r\n${BODY}`,
  'chunked (3 fields)': `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nDate: ${DATE}\r\n\r\n64\r\n${BODY}\r\n0\r\n\r\n`,
};

/** CPU ns per response over `n` responses (process CPU time: a preempted stretch does not count). */
function measure(Parser, bytes, n) {
  let heads = 0;
  const parser = new Parser({ onHead: () => { heads++; }, onBody: () => undefined, onComplete: () => undefined, onUpgrade: () => undefined }, 64 * 1024);
  const start = process.cpuUsage();
  for (let i = 0; i < n; i++) {
    parser.reset(false);
    parser.execute(bytes);
  }
  const used = process.cpuUsage(start);
  if (heads !== n) throw new Error(`${heads} heads for ${n} responses`);
  return ((used.user + used.system) * 1000) / n;
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const n = Number(values.n);
const rounds = Number(values.rounds);
for (const [name, text] of Object.entries(HEADS)) {
  const bytes = Buffer.from(text, 'latin1');
  for (const [, Parser] of targets) measure(Parser, bytes, n); // warm up every tier first
  const ns = new Map(targets.map(([t]) => [t, []]));
  const ratios = [];
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? targets : [...targets].reverse();
    const round = new Map(order.map(([t, Parser]) => [t, measure(Parser, bytes, n)]));
    for (const [t, v] of round) ns.get(t).push(v);
    if (round.has('ref')) ratios.push(round.get('this') / round.get('ref'));
  }
  const figures = targets.map(([t]) => `${t} ${median(ns.get(t)).toFixed(0)} ns`).join(', ');
  const ratio = ratios.length > 0 ? `; this ÷ ref ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})` : '';
  console.log(`${name}: ${figures} per response (median of ${rounds})${ratio}`);
}
