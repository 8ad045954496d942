// The framing fuzz harness (issue 19): an upstream that parses what Gatehouse writes with llhttp
// (Node's own http.Server, strict parser), an in-process llhttp oracle that parses the client's
// own bytes, and the invariant checked for every case — one client request in, at most one
// well-framed request out, and no client ever receives another client's bytes.
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import type { Answer } from './fuzz-h1.js';

/** One request as llhttp parsed it (upstream or oracle). */
export interface Parsed {
  readonly client: number;
  readonly id: string;
  readonly method: string;
  readonly url: string;
  readonly connection: number;
  body: string;
  /** The body ended as framed; false while it streams, or when the connection broke mid-message. */
  complete: boolean;
  settled: boolean;
}

const ID = /k(\d+)-([0-9s]+)/;

/** Requests llhttp parsed, keyed by the client that (according to its id) sent them. */
export class Seen {
  readonly byClient = new Map<number, Parsed[]>();
  /** llhttp refused the bytes it was given (HPE_… on a connection). */
  readonly refusals: string[] = [];

  record(req: IncomingMessage, connection: number): Parsed {
    const match = ID.exec(req.url ?? '') ?? ID.exec(String(req.headers['x-id'] ?? ''));
    const client = match === null ? -1 : Number(match[1]);
    const parsed: Parsed = {
      client, id: match === null ? '' : match[0], method: req.method ?? '', url: req.url ?? '', connection, body: '', complete: false, settled: false,
    };
    let list = this.byClient.get(client);
    if (list === undefined) this.byClient.set(client, list = []);
    list.push(parsed);
    req.on('data', (c: Buffer) => { parsed.body += c.toString('latin1'); });
    req.on('end', () => { parsed.complete = true; parsed.settled = true; });
    // llhttp marks a message complete as it parses its end; a parse error in the bytes after it
    // can close the request before its 'end' was emitted.
    req.on('close', () => { parsed.settled = true; if (req.complete) parsed.complete = true; });
    return parsed;
  }

  take(client: number): Parsed[] {
    const list = this.byClient.get(client) ?? [];
    this.byClient.delete(client);
    return list;
  }
}

/** The upstream's answer to a request, chosen by the client's X-Answer; every body names the request. */
function answer(req: IncomingMessage, res: ServerResponse, parsed: Parsed): void {
  const kind = String(req.headers['x-answer'] ?? 'len') as Answer;
  const tag = `up:${parsed.id};`;
  res.setHeader('x-up-id', parsed.id);
  switch (kind) {
    case '204': res.writeHead(204, { 'content-length': '5' }).end(); return;
    case '304': res.writeHead(304, { 'content-length': '12', etag: '"e"' }).end(); return;
    case 'chunked': res.write(tag); res.end(tag); return;
    case 'close': res.writeHead(200, { connection: 'close' }).end(tag); return;
    case 'continue': res.writeContinue(); res.end(tag); return;
    case 'hints': res.writeEarlyHints({ link: '</a.css>; rel=preload' }); res.end(tag); return;
    default: res.end(tag);
  }
}

function server(seen: Seen): Server {
  let connections = 0;
  const ids = new WeakMap<object, number>();
  const s = createServer({ insecureHTTPParser: false, requireHostHeader: false, maxHeaderSize: 16384, keepAliveTimeout: 30_000 }, (req, res) => {
    const parsed = seen.record(req, ids.get(req.socket) ?? 0);
    // 'early': answered before the body is read, as the backends of issue 19 did.
    if (req.headers['x-answer'] === 'early') answer(req, res, parsed);
    else req.on('end', () => answer(req, res, parsed));
    req.resume();
  });
  s.on('connection', (socket: Socket) => {
    ids.set(socket, ++connections);
    socket.on('error', () => undefined);
  });
  return s;
}

/** The upstream Gatehouse forwards to: llhttp parses every byte Gatehouse wrote; a refusal is recorded. */
export async function llhttpUpstream(t: { teardown(fn: () => unknown): void }): Promise<{ address: string; seen: Seen }> {
  const seen = new Seen();
  const s = server(seen);
  s.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    // Socket errors (a connection Gatehouse cut because its client left, EPIPE on our answer)
    // and a message cut short at EOF are not framing faults; any other parse error is.
    if (err.code?.startsWith('HPE_') === true && err.code !== 'HPE_INVALID_EOF_STATE') seen.refusals.push(`${err.code ?? 'error'}: ${err.message}`);
    setImmediate(() => socket.destroy());
  });
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  t.teardown(() => new Promise<void>((resolve) => { s.closeAllConnections(); s.close(() => resolve()); }));
  return { address: `127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

/** llhttp on the client's own bytes, in process (a Duplex stands for the socket): what a strict HTTP/1.1 server reads from them. */
export class Oracle {
  readonly seen = new Seen();
  readonly #server = server(this.seen);

  constructor() {
    // Deferred: a request completed in the same read still gets its 'end'.
    this.#server.on('clientError', (_err: Error, socket: Duplex) => setImmediate(() => socket.destroy()));
  }

  async parse(bytes: Buffer): Promise<void> {
    const socket = new Duplex({ read() { /* bytes are pushed below */ }, write(_c, _e, done) { done(); } });
    socket.on('error', () => undefined);
    Object.assign(socket, { remoteAddress: '127.0.0.1', setTimeout: () => socket, setNoDelay: () => socket, setKeepAlive: () => socket });
    this.#server.emit('connection', socket);
    socket.push(bytes);
    // Bodies stream through req's buffer: a few turns of the loop let every 'end' fire.
    for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    socket.destroy();
  }
}

/** What one TLS client connection received, until the edge closed it or it went quiet. */
export async function h1Exchange(port: number, ca: string, bytes: Buffer, tickets: { session?: Buffer }): Promise<string> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca, ALPNProtocols: ['http/1.1'], ...(tickets.session === undefined ? {} : { session: tickets.session }) }, () => socket.write(bytes));
    socket.on('session', (s: Buffer) => { tickets.session = s; });
    const chunks: Buffer[] = [];
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      clearTimeout(hard);
      clearTimeout(quiet);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    // Bounded: an edge waiting for a body the client never sends is ended by the client.
    const hard = setTimeout(finish, 2500);
    let quiet = setTimeout(finish, 600);
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      clearTimeout(quiet);
      quiet = setTimeout(finish, 150);
    });
    socket.on('close', finish);
    socket.on('error', finish);
  });
}

/** Wait (bounded) until every request llhttp started for these clients has ended or broken off. */
export async function settled(seen: Seen, clients: readonly number[]): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (clients.every((c) => (seen.byClient.get(c) ?? []).every((p) => p.settled))) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Ids of requests a client received answers for, and every request id anywhere in its bytes. */
export function idsIn(received: string): string[] {
  return [...received.matchAll(/k(\d+)-([0-9s]+)/g)].map((m) => m[0]);
}

/**
 * The invariant for one h1 client: what reached the upstream is a subset of what llhttp reads
 * from the client's own bytes (same method, target and body, each at most once, complete only if
 * complete there), every upstream request is the one its id names, and the client received no
 * other client's id.
 */
export function checkH1(client: number, upstream: readonly Parsed[], oracle: readonly Parsed[], received: string): string[] {
  const v: string[] = [];
  const once = new Set<string>();
  for (const p of upstream) {
    if (once.has(p.id)) v.push(`${p.id} reached the upstream twice`);
    once.add(p.id);
    if (!p.url.endsWith(`/${p.id}`)) v.push(`upstream request ${p.method} ${p.url} carries id ${p.id}`);
    const twin = oracle.find((o) => o.id === p.id && o.method === p.method && o.url === p.url);
    if (twin === undefined) {
      v.push(`upstream saw ${p.method} ${p.url} that llhttp does not read in the client's bytes`);
      continue;
    }
    if (p.complete && !twin.complete) v.push(`${p.id}: complete upstream, incomplete in the client's bytes`);
    if (p.complete && p.body !== twin.body) v.push(`${p.id}: upstream body ${JSON.stringify(p.body)} ≠ client's ${JSON.stringify(twin.body)}`);
  }
  for (const id of idsIn(received)) {
    if (!id.startsWith(`k${client}-`)) v.push(`client ${client} received ${id}`);
  }
  for (const m of received.matchAll(/x-up-id: (\S+)/gi)) {
    const id = m[1] as string;
    if (!upstream.some((p) => p.id === id)) v.push(`client ${client} got an answer for ${id} the upstream never had`);
  }
  return v;
}
