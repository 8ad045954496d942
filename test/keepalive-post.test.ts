// Sequential keep-alive POSTs with large bodies on one HTTP/1.1 client connection: every one is
// answered, none is reset, and a connection Gatehouse ends is announced with `Connection: close`.
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Agent, request } from 'node:https';
import type { Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { eventually } from './helpers/hostile.js';
import { startBackend, startUpstream } from './helpers/upstream.js';

interface Outcome {
  readonly status: number;
  readonly body: string;
  readonly connection: string | undefined;
  readonly reused: boolean;
  readonly socket: Socket;
}

/** One POST on the agent's one connection; an error (ECONNRESET…) rejects with its code. */
function post(port: number, agent: Agent, path: string, body: Buffer): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path, method: 'POST', servername: 'localhost', agent,
      headers: { host: 'localhost', 'content-length': body.length, 'content-type': 'application/octet-stream' },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('latin1'), connection: res.headers.connection, reused: req.reusedSocket, socket: req.socket as Socket }));
      res.on('error', reject);
    });
    const timer = setTimeout(() => req.destroy(Object.assign(new Error('no answer within 10 s'), { code: 'TEST_TIMEOUT' })), 10_000);
    req.on('close', () => clearTimeout(timer));
    req.on('error', (err: NodeJS.ErrnoException) => reject(Object.assign(err, { reused: req.reusedSocket })));
    req.end(body);
  });
}

/** Body sizes above the ~64 KiB stream buffers, where the resets were seen (bench/RESULTS.md). */
function sizes(n: number): number[] {
  return Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 100_000 : 64 * 1024 + Math.floor(Math.random() * 192 * 1024)));
}

type Tap = Parameters<typeof startBackend>[0];

const digest = (b: Buffer | string): string => createHash('sha256').update(b).digest('hex');

async function agentFor(t: Tap): Promise<Agent> {
  const certs = await testCerts();
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: certs.caPem, servername: 'localhost' });
  t.teardown(() => agent.destroy());
  return agent;
}

const BIG = 8 * 1024 * 1024;
const UPLOAD = 256 * 1024;

/**
 * The race made deterministic: the next request (head and a large body, one write) arrives while
 * the answer before it is still draining — here because the client stopped reading a big answer.
 * Node then pauses its parser, and TLS used to hand the paused parser the rest of the records it
 * had decrypted: HPE_PAUSED, the connection destroyed, nothing logged.
 */
t.test('a request that arrives while the previous answer is still draining is answered, not reset (TLS, HTTP/1.1)', async (t) => {
  const backend = await startBackend(t, (req, res, body) => {
    if (req.method === 'GET') res.end(Buffer.alloc(BIG, 0x62));
    else res.end(`got ${body.length}`);
  });
  const running = await startEdge(t, basicConfig([backend.address]));
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port: running.port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['http/1.1'] });
  t.teardown(() => socket.destroy());
  socket.on('error', () => undefined);
  const chunks: Buffer[] = [];
  let received = 0;
  let closed = false;
  socket.on('data', (c: Buffer) => { chunks.push(c); received += c.length; });
  socket.on('close', () => { closed = true; });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('no TLS handshake within 5 s')), 5000);
    socket.once('secureConnect', () => { clearTimeout(timer); resolve(); });
  });
  socket.write('GET /big HTTP/1.1\r\nHost: localhost\r\n\r\n');
  t.ok(await eventually(() => received > 0, 5000), 'the big answer began');
  // Stop reading: Gatehouse's writes back up, so its socket needs a drain when the next head comes.
  socket.pause();
  await new Promise((r) => setTimeout(r, 300));
  socket.write(Buffer.concat([Buffer.from(`POST /upload HTTP/1.1\r\nHost: localhost\r\nContent-Length: ${UPLOAD}\r\n\r\n`), Buffer.alloc(UPLOAD, 0x61)]));
  socket.resume();
  const expected = `got ${UPLOAD}`;
  const done = await eventually(() => closed || Buffer.concat(chunks).toString('latin1').endsWith(expected), 15_000);
  const text = Buffer.concat(chunks).toString('latin1');
  const first = text.indexOf('\r\n\r\n');
  const second = text.slice(first + 4 + BIG);
  t.ok(done, `an outcome within 15 s (${received} bytes so far)`);
  t.match(text.slice(0, first), /^HTTP\/1\.1 200 /, 'the big answer');
  t.equal(text.length >= first + 4 + BIG, true, `all ${BIG} bytes of the big answer arrived (${text.length - first - 4})`);
  t.match(second, /^HTTP\/1\.1 200 /, 'the upload is answered on the same connection, not reset');
  t.ok(second.endsWith(expected), 'with the backend\'s count of the whole body');
  t.notOk(closed && !second.endsWith(expected), 'the connection was not closed before the answer');
  const error = running.logs.find((l) => l.event === 'client-error');
  t.equal(error, undefined, `no client error logged: ${JSON.stringify(error)}`);
});

t.test('30 sequential keep-alive POSTs of 64–256 KiB to a backend that reads the whole body: all answered with the right digest, none reset', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(`${body.length} ${digest(Buffer.from(body, 'utf8'))}`));
  const running = await startEdge(t, basicConfig([backend.address]));
  const agent = await agentFor(t);
  const failures: string[] = [];
  const sockets = new Set<Socket>();
  let closeAnnounced = 0;
  for (const [i, size] of sizes(30).entries()) {
    // Latin-1 letters only, so the backend's utf8 view is the same bytes.
    const body = Buffer.from(randomBytes(size).toString('base64').slice(0, size), 'latin1');
    try {
      const out = await post(running.port, agent, `/echo/${i}`, body);
      sockets.add(out.socket);
      if (out.connection === 'close') closeAnnounced++;
      if (out.status !== 200 || out.body !== `${size} ${digest(body)}`) failures.push(`#${i} (${size} B): ${out.status} ${out.body.slice(0, 80)}`);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reused?: boolean };
      failures.push(`#${i} (${size} B): ${e.code ?? e.message}${e.reused === true ? ' on a reused connection' : ''}`);
    }
  }
  t.same(failures, [], 'every POST answered by the backend, intact');
  t.equal(closeAnnounced, 0, 'Gatehouse had no reason to end the connection');
  t.equal(sockets.size, 1, 'all on one client connection');
  t.equal(backend.seen.length, 30, 'the backend saw every POST once');
});

/**
 * The client the soak had: its own process (in-process, the client shares the edge's event loop
 * and never sends its next request before the edge ran its write callbacks, which hides the race).
 * N sequential keep-alive POSTs of SIZE bytes on one connection; prints a JSON tally.
 */
const CLIENT = `
const { request, Agent } = require('node:https');
const [port, n, size] = process.argv.slice(1).map(Number);
const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: process.env.TEST_CA, servername: 'localhost' });
const body = Buffer.alloc(size, 0x61);
const tally = { ok: 0, failures: [] };
const one = (i) => new Promise((resolve) => {
  const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/echo/' + i, agent, headers: { host: 'localhost', 'content-length': size } }, (res) => {
    let got = 0;
    res.on('data', (c) => { got += c.length; });
    res.on('end', () => { if (res.statusCode === 200 && got === size) tally.ok++; else tally.failures.push('#' + i + ': ' + res.statusCode + ' ' + got + ' bytes'); resolve(); });
  });
  req.on('error', (e) => { tally.failures.push('#' + i + ': ' + e.code + (req.reusedSocket ? ' on a reused connection' : '')); resolve(); });
  req.end(body);
});
(async () => { for (let i = 0; i < n; i++) await one(i); agent.destroy(); console.log(JSON.stringify(tally)); })();
`;

t.test('100 sequential keep-alive POSTs of 100,000 bytes from a client in its own process: none reset (main: a few to a fifth of them)', async (t) => {
  const backend = await startBackend(t, (_req, res, body) => res.end(body));
  const running = await startEdge(t, basicConfig([backend.address]));
  const certs = await testCerts();
  const child = spawn(process.execPath, ['-e', CLIENT, String(running.port), '100', '100000'], { env: { ...process.env, TEST_CA: certs.caPem }, stdio: ['ignore', 'pipe', 'inherit'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (c: Buffer) => { out += c.toString(); });
  let timer: NodeJS.Timeout | undefined;
  const exited = await Promise.race([once(child, 'exit').then(() => true), new Promise<boolean>((r) => { timer = setTimeout(() => r(false), 60_000); })]);
  clearTimeout(timer);
  t.ok(exited, 'the client finished within 60 s');
  const tally = JSON.parse(out === '' ? '{"ok":0,"failures":["no output"]}' : out) as { ok: number; failures: string[] };
  t.same(tally.failures.slice(0, 10), [], `every POST answered in full (${tally.failures.length} failed)`);
  t.equal(tally.ok, 100, 'all 100 answered');
});

/** A backend that answers before reading the request body (it never reads it itself). */
function answerEarly(_req: IncomingMessage, res: ServerResponse): void {
  res.end('early');
}

t.test('a backend that answers before reading the body: each POST gets its answer, and the next request on the connection is never reset', async (t) => {
  const backend = await startUpstream(t, { answer: answerEarly, eager: true });
  const running = await startEdge(t, basicConfig([backend.address]));
  const agent = await agentFor(t);
  const failures: string[] = [];
  let closeAnnounced = 0;
  for (const [i, size] of sizes(15).entries()) {
    try {
      const out = await post(running.port, agent, `/early/${i}`, Buffer.alloc(size, 0x61));
      if (out.connection === 'close') closeAnnounced++;
      if (out.status !== 200 || out.body !== 'early') failures.push(`#${i} (${size} B): ${out.status} ${out.body.slice(0, 80)}`);
    } catch (err) {
      const e = err as NodeJS.ErrnoException & { reused?: boolean };
      failures.push(`#${i} (${size} B): ${e.code ?? e.message}${e.reused === true ? ' on a reused connection' : ''}`);
    }
  }
  t.same(failures, [], 'every POST answered; a connection Gatehouse ends is announced, never reset');
  t.comment(`${closeAnnounced} of 15 answers carried Connection: close`);
});
