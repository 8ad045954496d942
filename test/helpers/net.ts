import { once } from 'node:events';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as netConnect, createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import { testCerts } from './certs.js';
import { within } from './wait.js';

type Tap = { teardown(fn: () => unknown): void };

// The fake upstream lives in upstream.ts; these names stay importable from here only so test
// files written on branches before the move still build when merged. New code imports upstream.js.
export { startBackend, type Upstream as Backend, type SeenRequest } from './upstream.js';

export interface RawUpstream {
  readonly address: string;
  /** TCP connections accepted so far. */
  connections: number;
}

/**
 * A raw TCP upstream whose behaviour is scripted per received chunk: `onData(socket, data, n)`
 * where n is the 1-based number of the connection (to script "first connection does X").
 */
export async function rawUpstream(t: Tap, onData: (socket: Socket, data: string, connection: number) => void): Promise<RawUpstream> {
  const state = { address: '', connections: 0 };
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    const n = ++state.connections;
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (d: Buffer) => onData(socket, d.toString('latin1'), n));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  state.address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  return state;
}

/**
 * A raw upstream that keeps every byte it receives (all connections, in order) and answers
 * `reply` once `complete(seen)` holds; `close` ends the connection after it.
 */
export async function recordingUpstream(t: Tap, complete: (seen: string) => boolean, reply: string, close = false): Promise<RawUpstream & { seen(): string }> {
  let seen = '';
  const upstream = await rawUpstream(t, (socket, data) => {
    seen += data;
    if (!complete(seen)) return;
    if (close) socket.end(reply);
    else socket.write(reply);
  });
  return Object.assign(upstream, { seen: () => seen });
}

/** GET an http: or https: URL without connection reuse (admin listener, pebble); `ca` is what https trusts. */
export function fetchText(url: string, ca?: string): Promise<{ status: number; body: string }> {
  const send = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    send(url, { agent: false, ...(ca === undefined ? {} : { ca }) }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c.toString(); });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject).end();
  });
}

/** Ports below Linux's ephemeral range (32768–60999): no listen(0) and no outgoing connection of a parallel test takes them. */
const PICKED_PORTS = { first: 20_000, count: 12_000, slots: 4 } as const;

/**
 * A port nothing listens on: bound then closed ("dead port"), for connect-refused cases and for
 * servers that must be told their port before they start (pebble's challenge ports, edges that
 * are restarted on the same port). Picked at random below the ephemeral range: a port from
 * listen(0) could be handed to another test file's listen(0) or connection before ours binds it
 * again (seen as EADDRINUSE in CI-like runs). Each of tap's parallel job slots (`TAP_JOB_ID`,
 * distinct among the files running at once) picks from its own share of the range, so two files
 * running side by side never pick the same port (seen once: acme-workers' HTTPS port bound by
 * another file's server while its workers started). Four shares of 3,000: a run with more jobs
 * wraps around, and two tap runs at once on one machine pick like before, at random within a share.
 */
export async function deadPort(): Promise<number> {
  const share = Math.floor(PICKED_PORTS.count / PICKED_PORTS.slots);
  const slot = (Number(process.env.TAP_JOB_ID) || 0) % PICKED_PORTS.slots;
  const first = PICKED_PORTS.first + slot * share;
  for (let tries = 0; tries < 50; tries++) {
    const candidate = first + Math.floor(Math.random() * share);
    const port = await bindAndRelease(candidate);
    if (port !== undefined) return port;
  }
  return (await bindAndRelease(0)) as number;
}

async function bindAndRelease(port: number): Promise<number | undefined> {
  const s = createNetServer();
  const bound = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (!bound) return undefined;
  const chosen = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return chosen;
}

export interface Reply {
  readonly status: number;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: string;
}

/** How long `get` waits for a whole answer before the test fails naming the request (under tap's 30 s). */
const GET_MS = 20_000;

/** One HTTPS request trusting only the test CA; no connection reuse between calls. */
export async function get(port: number, path = '/', options: RequestOptions & { body?: string } = {}): Promise<Reply> {
  const certs = await testCerts();
  const { body, ...rest } = options;
  return within(GET_MS, new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: 'localhost', ca: certs.caPem, agent: false, ...rest, headers: { host: 'localhost', ...rest.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  }), `the answer to ${rest.method ?? 'GET'} ${path} on :${port}`);
}

/** Write raw bytes over TLS and collect everything until the server closes (or `waitMs`). */
export async function rawTls(port: number, data: string | Buffer, options: { servername?: string; waitMs?: number; localAddress?: string } = {}): Promise<string> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    // TCP first, so the client's source address can be chosen (sticky hashing tests).
    const tcp = netConnect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
    const socket = tlsConnect({ socket: tcp, servername: options.servername ?? 'localhost', ca: certs.caPem, ALPNProtocols: ['http/1.1'] }, () => socket.write(data));
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => { socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); }, options.waitMs ?? 3000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString('latin1')); });
    socket.on('error', (err) => { clearTimeout(timer); if (chunks.length > 0) resolve(Buffer.concat(chunks).toString('latin1')); else reject(err); });
  });
}

/** Headers of a raw response, lower-cased names; repeated names collected. */
export function parseRaw(text: string): { status: number; headers: Map<string, string[]>; body: string } {
  const end = text.indexOf('\r\n\r\n');
  const head = end === -1 ? text : text.slice(0, end);
  const [statusLine = '', ...lines] = head.split('\r\n');
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  return { status: Number(statusLine.split(' ')[1]), headers, body: end === -1 ? '' : text.slice(end + 4) };
}
