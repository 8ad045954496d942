import {
  constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream, type Settings,
} from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { Config } from '../config/types.js';
import { EdgeError, statusOf } from '../errors.js';
import { rateLimited, type Logger } from '../log.js';
import { respond } from '../http/respond.js';
import { clientAddress } from '../http/client-address.js';
import { H2Request, H2Response } from '../http/h2-exchange.js';
import { headerListSize, HeadWatch, type HeadState } from './h2-head.js';
import { REQUEST_HEADERS } from '../access-log.js';

export interface H2Deps {
  readonly log: Logger;
  /** The current HSTS value, for the answers the front door writes itself (431). */
  hsts(): string;
  onRequest(req: H2Request, res: H2Response): void;
  /** CONNECT streams: RFC 8441 extended CONNECT (WebSockets) or a plain CONNECT to refuse. */
  onConnect(req: H2Request, res: H2Response): void;
}

/**
 * Requests start one turn of the event loop after their HEADERS: nghttp2 hands over every frame
 * of a read at once, so a HEADERS+RST_STREAM pair (CVE-2023-44487, rapid reset) arrives here
 * already reset and never costs an upstream request (nor the request object below).
 */
function dispatch(deps: H2Deps, res: H2Response, headers: IncomingHttpHeaders, rawHeaders: readonly string[], socket: TLSSocket): void {
  const stream = res.stream;
  if (stream.destroyed) return;
  const req = new H2Request(stream, headers, rawHeaders, socket);
  if (headers[':method'] === 'CONNECT') deps.onConnect(req, res);
  else deps.onRequest(req, res);
}

/**
 * End a session and its connection now. destroy() alone sends GOAWAY (best effort) but only
 * half-closes the TLS socket when nghttp2 has not read the client's preface yet, so the socket
 * itself goes too (the real one: session.socket is a Proxy that refuses destroy()), and its
 * limits.connections slot is free at once.
 */
function cut(session: ServerHttp2Session, tls: TLSSocket | undefined): void {
  session.destroy(undefined, constants.NGHTTP2_NO_ERROR);
  tls?.destroy();
}

/** Stream errors (a client's RST_STREAM with an error code among them) end in 'close', where they are counted. */
function ignore(): void {}

/**
 * Client resets tolerated per session and window before the connection is called abusive.
 * A browser cancels a few streams on navigation; CVE-2023-44487 (rapid reset) sends thousands.
 */
const RESET_BURST = 200;
const RESET_WINDOW_MS = 10_000;
/** How long a connection's open streams get after its GOAWAY (abuse, idle) before it is destroyed. */
const CLOSE_GRACE_MS = 1000;
/**
 * Oversized header lists answered 431 per connection; the next one gets GOAWAY ENHANCE_YOUR_CALM.
 * A client that learned the limit from one 431 has no reason to send a second, let alone four.
 */
const OVERSIZE_TOLERANCE = 3;
/** The longest :path and :authority a refusal's log line repeats: an oversized list may be all path. */
const LOGGED_TEXT = 256;
/** Header fields per request: far above any browser (~30), below what a 16k header list could carry as empty names. */
const MAX_HEADER_PAIRS = 512;

/** What the front door keeps per client connection. */
interface SessionState extends HeadState {
  /**
   * The TLS connection the session runs on, for reads (client address, SNI, certificate, port).
   * The socket itself where the front door handed it over, not `session.socket`: that is a
   * Proxy whose every property read runs a trap (~1 % of an h2 request's CPU, read several times per stream).
   */
  readonly socket: TLSSocket;
  /** The TLS connection itself, to end it. */
  readonly tls: TLSSocket | undefined;
  /** Streams handed to the pipeline and not yet closed. */
  streams: number;
  resets: number;
  windowStart: number;
  /** Header lists refused as larger than limits.headerSize. */
  oversized: number;
}

function settingsOf(config: Config): Settings {
  return {
    maxConcurrentStreams: config.http2.maxConcurrentStreams,
    // The h2 counterpart of limits.headerSize (HPACK-decoded size, RFC 9113 §6.5.2). Node holds
    // a stream to it only once the client acknowledged these settings (it reads nghttp2's
    // acknowledged local settings, RFC 9113 §6.5.3); before that, and after a reload lowered
    // the limit, the front door measures each list itself (#oversized).
    maxHeaderListSize: config.limits.headerSize,
    enableConnectProtocol: config.http2.websocket,
  };
}

/**
 * The HTTP/2 front door: a plain (non-TLS) Http2Server that never listens; the :443 TLS server
 * hands it the sockets whose ALPN chose h2. Requests enter the same pipeline as HTTP/1.1 through
 * Node's core stream API and a small adapter (http/h2-exchange.ts); no 'request' listener, so Node
 * never builds its compatibility objects. Tracks its sessions so shutdown can send GOAWAY, idle
 * ones close, and unfinished heads end at timeouts.headers (h2-head.ts).
 */
export class H2Front {
  readonly server: Http2Server;
  readonly #sessions = new Map<ServerHttp2Session, SessionState>();
  readonly #heads: HeadWatch;
  #idleMs: number;
  #headerSize: number;
  #arriving: TLSSocket | undefined;

  constructor(config: Config, deps: H2Deps) {
    this.#idleMs = config.timeouts.idle;
    this.#headerSize = config.limits.headerSize;
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
    const slowHead = rateLimited(deps.log, 1000);
    this.#heads = new HeadWatch(this.#sessions, config.timeouts.headers, (session) => {
      const state = this.#sessions.get(session);
      slowHead({ event: 'h2-head-timeout', code: 'EDGE_ERR_REQUEST_TIMEOUT', clientIp: state === undefined ? undefined : clientAddress(state.socket) }, 'HTTP/2 connection closed: request headers not received within timeouts.headers');
      // No stream of the unfinished block exists to answer 408 on: the connection ends, freeing
      // its limits.connections slot.
      cut(session, state?.tls);
    });
    this.server.on('session', (session: ServerHttp2Session) => this.#track(session, deps));
    this.server.on('sessionError', (err: NodeJS.ErrnoException, session: ServerHttp2Session) => {
      sessionError({ event: 'h2-session-error', code: err.code, clientIp: session.socket === undefined ? undefined : clientAddress(session.socket), err: err.message }, 'HTTP/2 session error');
    });
  }

  /** Serve an h2 TLS socket (its ALPN said h2). */
  accept(socket: TLSSocket): void {
    // Node makes the session and emits 'session' within this call: #track takes the socket from here.
    this.#arriving = socket;
    this.server.emit('connection', socket);
    this.#arriving = undefined;
  }

  /** New settings for new connections; open ones keep what they were told (RFC 9113 §6.5 would allow changing them, browsers cope badly). */
  update(config: Config): void {
    this.#idleMs = config.timeouts.idle;
    this.#headerSize = config.limits.headerSize;
    this.#heads.limitMs = config.timeouts.headers;
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
    this.#heads.stop();
    for (const session of this.#sessions.keys()) session.destroy();
  }

  #track(session: ServerHttp2Session, deps: H2Deps): void {
    const now = Date.now();
    const state: SessionState = {
      socket: this.#arriving ?? (session.socket as TLSSocket), tls: this.#arriving, streams: 0, resets: 0, windowStart: now, oversized: 0,
      // Until the client's SETTINGS arrive, its preface is the unfinished head.
      greeted: false, lastStream: 0, pending: -1, pendingSince: now,
    };
    this.#sessions.set(session, state);
    this.#heads.start();
    session.on('error', () => session.destroy());
    session.once('close', () => this.#sessions.delete(session));
    session.once('remoteSettings', () => { state.greeted = true; });
    // timeouts.idle as for HTTP/1.1 keep-alive, whatever nghttp2 holds (an unfinished header
    // block, streams it refused): only a stream the pipeline serves — a request waiting on its
    // upstream, a quiet WebSocket — keeps a silent connection, and each of those has its own
    // timeouts (response, idle for bodies, websocketIdle). Node re-arms the timer on activity.
    session.setTimeout(this.#idleMs, () => {
      if (state.streams === 0) this.#retire(session);
    });
    session.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      state.lastStream = stream.id ?? state.lastStream;
      state.streams++;
      stream.on('error', ignore);
      const res = new H2Response(stream);
      // 'close' comes once per stream: on(), not once() and its wrapper. The stream's one
      // 'close' listener: the exchange's own close handling runs from it (H2Response.whenClosed).
      stream.on('close', () => {
        state.streams--;
        // A stream that ended in RST_STREAM, whoever sent it: a completed exchange ends with NO_ERROR.
        if (stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.#reset(session, state);
        res.streamClosed();
      });
      const size = headerListSize(rawHeaders);
      if (size > this.#headerSize) this.#oversized(session, state, res, headers, size, deps);
      else setImmediate(dispatch, deps, res, headers, rawHeaders, state.socket);
    });
  }

  /**
   * A header list over limits.headerSize (RFC 9113 §6.5.2 measure): 431 on its stream and
   * nothing upstream, as HTTP/1.1 answers an oversized head. Checked before anything reads the
   * fields, so an HPACK bomb (one indexed 4 KB value referenced 500 times: 55 KB on the wire,
   * 2 MB decoded) costs the references Node made, never a copy; a client that keeps sending
   * them gets GOAWAY ENHANCE_YOUR_CALM, as nginx answers.
   */
  #oversized(session: ServerHttp2Session, state: SessionState, res: H2Response, headers: IncomingHttpHeaders, size: number, deps: H2Deps): void {
    const code = 'EDGE_ERR_HEADERS_TOO_LARGE';
    respond(res, new EdgeError(code, 'header list over limits.headerSize'), deps.hsts());
    const calm = ++state.oversized > OVERSIZE_TOLERANCE;
    deps.log.info({
      method: headers[':method'], protocol: 'h2', host: headers[':authority']?.slice(0, LOGGED_TEXT), path: headers[':path']?.slice(0, LOGGED_TEXT),
      status: statusOf(code), clientIp: clientAddress(state.socket), target: null, bytes: 0, code, headerListSize: size, limit: this.#headerSize,
      ...(calm ? { goaway: 'ENHANCE_YOUR_CALM' } : {}), [REQUEST_HEADERS]: headers,
    }, 'request');
    if (calm) this.#calm(session);
  }

  /** A stream ended by reset: rapid reset is counted per connection. */
  #reset(session: ServerHttp2Session, state: SessionState): void {
    const now = Date.now();
    if (now - state.windowStart > RESET_WINDOW_MS) {
      state.windowStart = now;
      state.resets = 0;
    }
    if (++state.resets > RESET_BURST) this.#calm(session);
  }

  /**
   * An abusive connection: GOAWAY ENHANCE_YOUR_CALM first and on its own (RFC 9113 §6.8), so the
   * client reads why; destroying at once would reset every open stream and drop the socket
   * before that frame is out.
   */
  #calm(session: ServerHttp2Session): void {
    if (session.closed || session.destroyed) return;
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    this.#retire(session);
  }

  /**
   * Close gracefully (GOAWAY, open streams finish), and destroy after a short grace: Node's
   * close() waits for streams nghttp2 still holds, and an unfinished header block is one that
   * never finishes.
   */
  #retire(session: ServerHttp2Session): void {
    if (session.destroyed) return;
    if (!session.closed) session.close();
    setTimeout(cut, CLOSE_GRACE_MS, session, this.#sessions.get(session)?.tls).unref();
  }
}
