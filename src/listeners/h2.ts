import {
  constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream, type Settings,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/types.js';
import { rateLimited, type Logger } from '../log.js';
import { clientAddress } from './client-address.js';
import { H2Request, H2Response } from './h2-exchange.js';

export interface H2Deps {
  readonly log: Logger;
  onRequest(req: H2Request, res: H2Response): void;
  /** CONNECT streams: RFC 8441 extended CONNECT (WebSockets) or a plain CONNECT to refuse. */
  onConnect(req: H2Request, res: H2Response): void;
}

/**
 * Requests start one turn of the event loop after their HEADERS: nghttp2 hands over every frame
 * of a read at once, so a HEADERS+RST_STREAM pair (CVE-2023-44487, rapid reset) arrives here
 * already reset and never costs an upstream request (nor the objects below).
 */
function dispatch(deps: H2Deps, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], socket: TLSSocket): void {
  if (stream.destroyed) return;
  const req = new H2Request(stream, headers, rawHeaders, socket);
  const res = new H2Response(stream);
  if (headers[':method'] === 'CONNECT') deps.onConnect(req, res);
  else deps.onRequest(req, res);
}

/** Stream errors (a client's RST_STREAM with an error code among them) end in 'close', where they are counted. */
function ignore(): void {}

/**
 * Client resets tolerated per session and window before the connection is called abusive.
 * A browser cancels a few streams on navigation; CVE-2023-44487 (rapid reset) sends thousands.
 */
const RESET_BURST = 200;
const RESET_WINDOW_MS = 10_000;
/** How long an abusive connection's open streams get after its GOAWAY. */
const ABUSER_GRACE_MS = 1000;
/** Header fields per request: far above any browser (~30), below what a 16k header list could carry as empty names. */
const MAX_HEADER_PAIRS = 512;

/** What the front door keeps per client connection. */
interface SessionState {
  /** The TLS connection, through the session (Node's Proxy passes reads through). */
  readonly socket: TLSSocket;
  streams: number;
  resets: number;
  windowStart: number;
}

function settingsOf(config: Config): Settings {
  return {
    maxConcurrentStreams: config.http2.maxConcurrentStreams,
    // The h2 counterpart of limits.headerSize (HPACK-decoded size, RFC 9113 §6.5.2): an HPACK
    // bomb inflates past it and the stream is reset, whatever its compressed size.
    maxHeaderListSize: config.limits.headerSize,
    enableConnectProtocol: config.http2.websocket,
  };
}

/**
 * The HTTP/2 front door: a plain (non-TLS) Http2Server that never listens; the :443 TLS server
 * hands it the sockets whose ALPN chose h2. Requests enter the same pipeline as HTTP/1.1 through
 * Node's core stream API and a small adapter (h2-exchange.ts); no 'request' listener, so Node
 * never builds its compatibility objects. Tracks its sessions so shutdown can send GOAWAY and
 * idle ones close.
 */
export class H2Front {
  readonly server: Http2Server;
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  #idleMs: number;

  constructor(config: Config, deps: H2Deps) {
    this.#idleMs = config.timeouts.idle;
    this.server = createServer({
      settings: settingsOf(config),
      maxHeaderListPairs: MAX_HEADER_PAIRS,
      // Node's defaults, named here because they are the flood protections the design relies
      // on: at most 32 entries per SETTINGS frame, 10 MB of buffered session memory, and
      // nghttp2 ends a session whose unacknowledged PING/SETTINGS replies pile up.
      maxSettings: 32,
      maxSessionMemory: 10,
    });
    const sessionError = rateLimited(deps.log, 1000);
    this.server.on('session', (session: ServerHttp2Session) => this.#track(session, deps));
    this.server.on('sessionError', (err: NodeJS.ErrnoException, session: ServerHttp2Session) => {
      sessionError({ event: 'h2-session-error', code: err.code, clientIp: session.socket === undefined ? undefined : clientAddress(session.socket), err: err.message }, 'HTTP/2 session error');
    });
  }

  /** Serve an h2 TLS socket (its ALPN said h2). */
  accept(socket: TLSSocket): void {
    this.server.emit('connection', socket);
  }

  /** New settings for new connections; open ones keep what they were told (RFC 9113 §6.5 would allow changing them, browsers cope badly). */
  update(config: Config): void {
    this.#idleMs = config.timeouts.idle;
    this.server.updateSettings(settingsOf(config));
  }

  get sessions(): number {
    return this.#sessions.size;
  }

  /** GOAWAY to every client (RFC 9113 §6.8): no new streams, in-flight ones finish. */
  close(): void {
    for (const session of this.#sessions.keys()) {
      if (!session.closed && !session.destroyed) session.close();
    }
  }

  /** The drain deadline passed: cut whatever is left. */
  destroyAll(): void {
    for (const session of this.#sessions.keys()) session.destroy();
  }

  #track(session: ServerHttp2Session, deps: H2Deps): void {
    const state: SessionState = { socket: session.socket as TLSSocket, streams: 0, resets: 0, windowStart: Date.now() };
    this.#sessions.set(session, state);
    session.on('error', () => session.destroy());
    session.once('close', () => this.#sessions.delete(session));
    // timeouts.idle as for HTTP/1.1 keep-alive, but only while no stream is open: a quiet
    // WebSocket or long poll is not an idle connection.
    session.setTimeout(this.#idleMs, () => {
      if (state.streams === 0) session.close();
    });
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      state.streams++;
      stream.on('error', ignore);
      setImmediate(dispatch, deps, stream, headers, rawHeaders, state.socket);
      stream.once('close', () => {
        state.streams--;
        // A stream that ended in RST_STREAM, whoever sent it: a completed exchange ends with NO_ERROR.
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.#reset(session, state);
      });
    });
  }

  /** A stream ended by reset: rapid reset is counted per connection. */
  #reset(session: ServerHttp2Session, state: SessionState): void {
    const now = Date.now();
    if (now - state.windowStart > RESET_WINDOW_MS) {
      state.windowStart = now;
      state.resets = 0;
    }
    if (++state.resets > RESET_BURST && !session.closed && !session.destroyed) {
      // GOAWAY first and on its own (RFC 9113 §6.8), so the client reads why; destroying at once
      // would reset every open stream and drop the socket before that frame is out.
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
      session.close();
      setTimeout(() => session.destroy(), ABUSER_GRACE_MS).unref();
    }
  }
}
