/**
 * The tests' one fake upstream: a real node:http (or node:https) server on loopback, or on a Unix
 * socket, that records what reaches it and answers as told, with an optional `ws` server sharing
 * it. Every variant the suite needs is an option of `startUpstream`:
 *
 * - `answer`: how each request is answered once its body is read — default 200 `ok from PORT`
 *   (or the upstream's `name`); `fixed(status, body)` a set answer; `echoRequest(name)` the
 *   request itself as JSON (what a test asserts a header became on the way).
 * - `ws`: a WebSocket server on the same port — `'echo'` answers `${name}:${text}` (binary
 *   echoed as is), `'name'` answers every message with the name, `'request'` sends the
 *   upgrade request as JSON once open.
 * - `tls` (https/wss), `unix` (a socket path), `host` (::1), `port` (fixed, so `close()` then
 *   `listen()` takes a target down and brings it back), `healthy` (a /healthz answering 200 or 503).
 *
 * A hostile peer writing exact bytes is not here: it is a raw net server (net.ts `rawUpstream`,
 * hostile.ts, capture.ts `bytesUpstream`), where node:http would normalise what it sends.
 */
import { once } from 'node:events';
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type RawData, type WebSocket } from 'ws';

type Tap = { teardown(fn: () => unknown): void };

/** Answers one request; `body` is the whole request body, read before the call. */
export type Answer = (req: IncomingMessage, res: ServerResponse, body: string) => void;

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly rawHeaders: readonly string[];
  readonly body: string;
  readonly remotePort: number;
}

export interface SeenUpgrade {
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
}

/** What the `ws` server does: see the module comment. */
export type WsBehaviour = 'echo' | 'name' | 'request';

export interface UpstreamOptions {
  /** Said in default answers and WebSocket replies. */
  readonly name?: string;
  readonly answer?: Answer;
  /** Loopback address to listen on (default 127.0.0.1); ignored with `unix`. */
  readonly host?: string;
  /** Fixed port (default 0: any free one). */
  readonly port?: number;
  /** Listen on this Unix socket path instead of TCP (the target is `unix:PATH`). */
  readonly unix?: string;
  /** Serve https/wss with this certificate and key (PEM). */
  readonly tls?: { readonly cert: string | Buffer; readonly key: string | Buffer };
  readonly ws?: WsBehaviour;
  /** Options for the `ws` server (perMessageDeflate, handleProtocols …). */
  readonly wsOptions?: ConstructorParameters<typeof WebSocketServer>[0];
  /** Call `answer` on the request head, before the body is read (a backend that answers early); `body` is ''. */
  readonly eager?: boolean;
  /** Answer GET /healthz with 200 while `upstream.healthy`, 503 otherwise (before `answer`). */
  readonly healthz?: boolean;
}

export interface Upstream {
  /** The server listening now (a new one after `listen()` again). */
  readonly server: Server;
  readonly wss: WebSocketServer | undefined;
  readonly port: number;
  /** `HOST:PORT`, or the socket path with `unix`. */
  readonly address: string;
  readonly seen: SeenRequest[];
  readonly upgrades: SeenUpgrade[];
  /** TCP connections accepted so far (proves "no upstream contact" and connection reuse). */
  connections: number;
  /** Servernames the TLS clients sent (false: none), with `tls`. */
  readonly servernames: (string | false)[];
  /** With `healthz`: what /healthz answers. */
  healthy: boolean;
  /** Stop listening and drop every connection (a target going down). */
  close(): Promise<void>;
  /** Listen again on the same port (a target coming back). */
  listen(): Promise<void>;
}

/** 200 `ok from PORT`, or the name when the upstream has one. */
function defaultAnswer(upstream: Upstream, name: string | undefined): Answer {
  return (_req, res) => res.end(name ?? `ok from ${upstream.port}`);
}

/** A set answer: `status`, `body`, and headers. */
export function fixed(status: number, body = '', headers: Record<string, string> = {}): Answer {
  return (_req, res) => res.writeHead(status, headers).end(body);
}

/** A request as `echoRequest` (and the `'request'` WebSocket) tell it back. */
export interface Echoed {
  readonly name: string;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingMessage['headers'];
  readonly body: string;
}

function echoed(name: string, req: IncomingMessage, body: string): string {
  const told: Echoed = { name, method: req.method ?? '', url: req.url ?? '', headers: req.headers, body };
  return JSON.stringify(told);
}

/** The request as JSON (`Echoed`; read it back with `parseEcho`). */
export function echoRequest(name = ''): Answer {
  return (req, res, body) => res.setHeader('content-type', 'application/json').end(echoed(name, req, body));
}

export function parseEcho(text: string): Echoed {
  return JSON.parse(text) as Echoed;
}

function onWsOpen(behaviour: WsBehaviour, name: string, ws: WebSocket, req: IncomingMessage): void {
  if (behaviour === 'request') {
    ws.send(echoed(name, req, ''));
    return;
  }
  ws.on('message', (data: RawData, binary: boolean) => {
    if (behaviour === 'name') ws.send(name);
    else ws.send(binary ? data : `${name}:${data.toString()}`, { binary });
  });
}

/** A fake upstream (see the module comment); closed at teardown. */
export async function startUpstream(t: Tap, options: UpstreamOptions = {}): Promise<Upstream> {
  const host = options.host ?? '127.0.0.1';
  const state = { server: undefined as unknown as Server, wss: undefined as WebSocketServer | undefined, port: options.port ?? 0 };
  const upstream: Upstream = {
    get server() { return state.server; },
    get wss() { return state.wss; },
    get port() { return state.port; },
    get address() { return options.unix ?? `${host.includes(':') ? `[${host}]` : host}:${state.port}`; },
    seen: [], upgrades: [], connections: 0, servernames: [], healthy: true,
    close: () => new Promise<void>((resolve) => {
      for (const c of state.wss?.clients ?? []) c.terminate();
      state.wss?.close();
      state.server.closeAllConnections();
      state.server.close(() => resolve());
    }),
    listen: async () => {
      state.server = make();
      if (options.unix !== undefined) state.server.listen(options.unix);
      else state.server.listen(state.port, host);
      await once(state.server, 'listening');
      if (options.unix === undefined) state.port = (state.server.address() as AddressInfo).port;
    },
  };
  const answer = options.answer ?? defaultAnswer(upstream, options.name);
  const make = (): Server => {
    const server: Server = options.tls === undefined ? createHttpServer() : createHttpsServer({ cert: options.tls.cert, key: options.tls.key });
    server.on(options.tls === undefined ? 'connection' : 'secureConnection', (s: Socket & { servername?: string | false }) => {
      upstream.connections++;
      if (options.tls !== undefined) upstream.servernames.push(s.servername ?? false);
      s.on('error', () => s.destroy());
    });
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      if (options.eager === true) {
        upstream.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body: '', remotePort: req.socket.remotePort ?? 0 });
        answer(req, res, '');
        return;
      }
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        upstream.seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, body, remotePort: req.socket.remotePort ?? 0 });
        if (options.healthz === true && req.url === '/healthz') res.writeHead(upstream.healthy ? 200 : 503).end();
        else answer(req, res, body);
      });
    });
    const behaviour = options.ws;
    state.wss = behaviour === undefined ? undefined : new WebSocketServer({ server, ...options.wsOptions });
    state.wss?.on('connection', (ws, req) => {
      upstream.upgrades.push({ url: req.url ?? '', headers: req.headers });
      onWsOpen(behaviour ?? 'echo', options.name ?? '', ws, req);
    });
    return server;
  };
  await upstream.listen();
  t.teardown(() => (upstream.server.listening ? upstream.close() : undefined));
  return upstream;
}

/** An HTTP upstream on `host` recording every request; `answer` answers (default: 200 "ok from PORT"). */
export function startBackend(t: Tap, answer?: Answer, host = '127.0.0.1'): Promise<Upstream> {
  return startUpstream(t, { host, ...(answer === undefined ? {} : { answer }) });
}

/** A `ws` echo upstream answering every message with `${name}:${message}` and HTTP with `http ${name}`. */
export function startWsBackend(t: Tap, name = 'ws', wsOptions: UpstreamOptions['wsOptions'] = {}): Promise<Upstream> {
  return startUpstream(t, { name, ws: 'echo', wsOptions, answer: fixed(200, `http ${name}`) });
}

/** An HTTP/1.1 upstream on a Unix socket at `path` answering `name` (nginx's `server unix:PATH`); `ws` adds the echo server. */
export function startUnixBackend(t: Tap, path: string, name: string, options: { ws?: boolean; answer?: Answer } = {}): Promise<Upstream> {
  return startUpstream(t, { unix: path, name, ...(options.ws === true ? { ws: 'echo' as const } : {}), ...(options.answer === undefined ? {} : { answer: options.answer }) });
}
