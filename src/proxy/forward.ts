import type { IncomingHttpHeaders } from 'node:http';
import { EdgeError, isConnectFailure } from '../errors.js';
import { responseHeaders } from '../pipeline/hop-by-hop.js';
import { headerObject, isH2, responseComplete, responseGone, type ClientRequest as IncomingMessage, type ClientResponse as ServerResponse, type Protocol } from '../pipeline/protocol.js';
import type { ConnectionUser, UpstreamConnection } from '../upstream/connections.js';
import type { TargetState, Upstream } from '../upstream/pool.js';
import { ResponseParser, type ResponseEvents, type ResponseHead } from '../upstream/response-parser.js';

/** How the request body travels upstream: none, as-is under Content-Length, or re-chunked. */
export type BodyFraming = 'none' | 'length' | 'chunked';

/** Everything the proxy step needs about one request, decided by the pipeline before it. */
export interface Exchange {
  readonly method: string;
  readonly protocol: Protocol;
  readonly host: string;
  readonly clientIp: string;
  /** Route label for metrics ("host/path"). */
  readonly label: string;
  readonly upstream: Upstream;
  readonly key: string;
  readonly hsts: string;
  readonly connectTimeout: number;
  /** The longest the upstream may keep us waiting: for its head once the request is sent, between body reads, or to take body bytes. */
  readonly responseTimeout: number;
  /** The longest the client may pause while sending its body, or stop reading the response (timeouts.idle). */
  readonly bodyTimeout: number;
  readonly body: BodyFraming;
  /** The request-target exactly as received (never normalised: "//" and escapes stay). */
  readonly path: string;
  /** The headers to send upstream (hop-by-hop removed, forwarded headers applied). */
  readonly headers: IncomingHttpHeaders;
  /** Add `Connection: close` to the client's response (the edge is draining). */
  readonly closeClient: boolean;
  target: TargetState | undefined;
  tried: Set<TargetState> | undefined;
  call: UpstreamCall | undefined;
  bytes: number;
  /** performance.now() when the pipeline accepted the request, and when upstream headers arrived (0 = never). */
  readonly start: number;
  headersAt: number;
  /** Why Gatehouse answered instead of the upstream, if it did. */
  error: EdgeError | undefined;
}

export interface ForwardHooks {
  /** The client's response closed (finished or not); exactly once per exchange. */
  done(exchange: Exchange, res: ServerResponse): void;
  /** A generated error response (502/504) — the pipeline writes it with HSTS. */
  fail(res: ServerResponse, error: EdgeError): void;
  /** A target just crossed maxFails and is now down. */
  targetDown(target: TargetState, error: unknown): void;
}

/** Largest upstream response head accepted (nginx's proxy_buffer_size is 4–8 KB; Node's 16 KB). */
const UPSTREAM_HEAD_LIMIT = 64 * 1024;
const LAST_CHUNK = '0\r\n\r\n';
/** How a reused connection the upstream already closed shows up before any response byte. */
const STALE_CODES = new Set(['ECONNRESET', 'EPIPE', 'HPE_INCOMPLETE']);

/** What an UpstreamCall is waiting for: its one timer's meaning (cf. nginx proxy_connect/send/read_timeout, client_body_timeout). */
const enum Wait { None, Connect, ClientBody, UpstreamDrain, Head, Body, ClientDrain }

/**
 * Proxies HTTP/1.1 over pooled keep-alive connections to each target, with its own response
 * parser instead of Node's ClientRequest/IncomingMessage (which cost about 60 µs of CPU per
 * request: bench/RESULTS.md). A connect failure moves any request to the next attempt (its body
 * waits for the connection, so none of it is lost); a reused connection the upstream had already
 * closed moves a bodiless one.
 */
export class Forwarder {
  readonly #hooks: ForwardHooks;

  constructor(hooks: ForwardHooks) {
    this.#hooks = hooks;
  }

  web(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    res.once('close', () => {
      // The client left before the response finished: abort upstream at once.
      if (!responseComplete(res)) exchange.call?.abort();
      this.#hooks.done(exchange, res);
    });
    this.#attempt(req, res, exchange);
  }

  #attempt(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    const target = exchange.upstream.choose(exchange.key, Date.now(), exchange.tried);
    if (target === undefined) {
      this.#finish(res, exchange, new EdgeError('EDGE_ERR_NO_HEALTHY_TARGET', `no healthy target in upstream ${exchange.upstream.name}`));
      return;
    }
    exchange.target = target;
    exchange.call = new UpstreamCall(this, req, res, exchange, target);
  }

  /** An attempt failed before or while the upstream answered. */
  failed(call: UpstreamCall, err: unknown): void {
    const { req, res, exchange, target } = call;
    if (exchange.call !== call) return;
    exchange.call = undefined;
    if (responseGone(res) || req.socket.destroyed) return; // the client is gone; nothing to answer, nobody to blame
    const connectFailure = isConnectFailure(err);
    // A reused keep-alive connection the upstream closed just before our request: the request
    // never reached it (RFC 9112 §9.3.1 lets clients retry idempotent requests here).
    const stale = call.reused && call.untouched && !res.headersSent && STALE_CODES.has((err as { code?: string }).code ?? '');
    const clientStalled = err instanceof EdgeError && err.code === 'EDGE_ERR_REQUEST_TIMEOUT';
    if (!stale && !clientStalled && exchange.upstream.recordFailure(target, Date.now())) this.#hooks.targetDown(target, err);
    // A body is read only once its connection is up, so after a connect failure it is all still
    // there to send elsewhere; on a stale connection part of it may be gone (as nginx, no replay).
    const retry = connectFailure ? !call.bodyStarted : stale && exchange.body === 'none';
    if (retry && !res.headersSent) {
      if (!stale) (exchange.tried ??= new Set()).add(target);
      this.#attempt(req, res, exchange);
      return;
    }
    this.#finish(res, exchange, classify(err));
  }

  #finish(res: ServerResponse, exchange: Exchange, error: EdgeError): void {
    exchange.error = error;
    if (res.headersSent) {
      res.destroy(); // mid-body failure: the only honest signal left is closing the connection
    } else {
      this.#hooks.fail(res, error);
    }
  }
}

/**
 * One attempt at one target: writes the request on a pooled connection, parses the answer and
 * streams it to the client with backpressure both ways, then hands the connection back (or
 * closes it when it cannot carry another request).
 */
export class UpstreamCall implements ConnectionUser, ResponseEvents {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly exchange: Exchange;
  readonly target: TargetState;
  readonly reused: boolean;
  readonly #forwarder: Forwarder;
  readonly #conn: UpstreamConnection;
  readonly #parser: ResponseParser;
  #timer: NodeJS.Timeout | undefined;
  #timerMs = 0;
  #wait = Wait.None;
  /** The client's body has begun to flow upstream (it waits for the connection). */
  bodyStarted = false;
  #bodySent: boolean;
  #finished = false;
  #paused = false;

  constructor(forwarder: Forwarder, req: IncomingMessage, res: ServerResponse, exchange: Exchange, target: TargetState) {
    this.#forwarder = forwarder;
    this.req = req;
    this.res = res;
    this.exchange = exchange;
    this.target = target;
    this.#parser = new ResponseParser(this, UPSTREAM_HEAD_LIMIT);
    this.#parser.reset(exchange.method === 'HEAD');
    this.#bodySent = exchange.body === 'none';
    const conn = target.pool.acquire(this);
    this.#conn = conn;
    this.reused = conn.uses > 0;
    const socket = conn.socket;
    const connecting = socket.connecting || socket.pending;
    if (connecting) this.#expect(Wait.Connect, exchange.connectTimeout);
    else if (this.#bodySent) this.#expect(Wait.Head, exchange.responseTimeout);
    // latin1: Node decoded the client's header bytes one byte per character; this writes them
    // back byte for byte (UTF-8 would double-encode anything above 0x7f).
    socket.write(requestHead(exchange), 'latin1');
    if (!connecting) this.#sendBody();
  }

  /** True until a byte of the response arrived. */
  get untouched(): boolean {
    return this.#parser.untouched;
  }

  onConnect(): void {
    if (this.#bodySent) this.#expect(Wait.Head, this.exchange.responseTimeout);
    else this.#sendBody();
  }

  onData(chunk: Buffer): void {
    try {
      this.#parser.execute(chunk);
    } catch (err) {
      this.#fail(err);
    }
  }

  onEnd(): void {
    try {
      this.#parser.finish();
    } catch (err) {
      this.#fail(err);
    }
  }

  onError(err: Error): void {
    this.#fail(err);
  }

  onClose(): void {
    if (!this.#finished) this.#fail(Object.assign(new Error('upstream connection closed'), { code: 'ECONNRESET' }));
  }

  onHead(head: ResponseHead): void {
    if (this.#finished) return;
    const { exchange, res } = this;
    // From here the upstream may pause at most responseTimeout between body reads.
    this.#expect(Wait.Body, exchange.responseTimeout);
    exchange.headersAt = performance.now();
    this.target.recordSuccess();
    if (responseGone(res)) {
      this.abort();
      return;
    }
    const headers = responseHeaders(head.headers, head.connectionTokens, exchange.hsts, exchange.closeClient);
    try {
      // RFC 9113 §8.3.2: h2 has no reason phrase; responseHeaders() already dropped every
      // connection-specific field (§8.2.2), which Node would otherwise refuse with a throw.
      if (isH2(res)) res.writeHead(head.status, headerObject(headers));
      else if (head.reason === '') res.writeHead(head.status, headers);
      else res.writeHead(head.status, head.reason, headers);
    } catch (err) {
      this.#fail(Object.assign(err as Error, { code: 'HPE_INVALID_HEADER_TOKEN' }));
    }
  }

  onBody(chunk: Buffer): void {
    if (this.#finished) return;
    this.exchange.bytes += chunk.length;
    if (!(this.res as { write(chunk: Buffer): boolean }).write(chunk) && !this.#paused) {
      // The client is the slow one now: its clock runs, not the upstream's (nginx's send_timeout).
      this.#paused = true;
      this.#expect(Wait.ClientDrain, this.exchange.bodyTimeout);
      this.#conn.socket.pause();
      this.res.once('drain', this.#resume);
    } else if (!this.#paused) {
      this.#timer?.refresh();
    }
  }

  onComplete(reusable: boolean, tail: Buffer | undefined): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimer();
    this.exchange.call = undefined;
    if (this.#paused) {
      this.res.removeListener('drain', this.#resume);
      this.#resume();
    }
    if (tail === undefined || tail.length === 0) {
      this.res.end();
    } else {
      // Head and last piece in one write (one TLS record, one syscall for small answers).
      this.exchange.bytes += tail.length;
      this.res.end(tail);
    }
    const conn = this.#conn;
    if (reusable && this.#bodySent && conn.user === this) this.target.pool.release(conn);
    else this.#close();
  }

  readonly #resume = (): void => {
    this.#paused = false;
    if (!this.#finished) this.#expect(Wait.Body, this.exchange.responseTimeout);
    this.#conn.socket.resume();
  };

  /** The client went away: drop the upstream connection (it may be mid-response). */
  abort(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimer();
    this.#close();
  }

  #close(): void {
    const conn = this.#conn;
    if (conn.user === this) conn.user = undefined;
    conn.socket.destroy();
    // The upstream stopped taking the body (it answered early, or failed): read and drop the
    // rest, or a request paused for backpressure would stall the client's connection. A body
    // not yet started is left alone: the next attempt sends it, or Node drops it after the 502.
    if (this.bodyStarted && !this.#bodySent) this.req.resume();
  }

  #fail(err: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimer();
    this.#close();
    this.#forwarder.failed(this, err);
  }

  /** Wait for `wait` at most `ms`: one timer per call, refreshed in place when the duration stays the same. */
  #expect(wait: Wait, ms: number): void {
    this.#wait = wait;
    if (this.#timer !== undefined && this.#timerMs === ms) {
      this.#timer.refresh();
      return;
    }
    clearTimeout(this.#timer);
    this.#timerMs = ms;
    this.#timer = setTimeout(timedOut, ms, this);
  }

  #stopTimer(): void {
    this.#wait = Wait.None;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** The timer fired: what we were waiting for decides whose fault it is. */
  timedOut(): void {
    const ms = this.#timerMs;
    switch (this.#wait) {
      case Wait.Connect:
        this.#fail(Object.assign(new Error('connect timeout'), { code: 'EEDGE_CONNECT_TIMEOUT' }));
        break;
      case Wait.ClientBody:
        this.#fail(new EdgeError('EDGE_ERR_REQUEST_TIMEOUT', `the client sent no request body for ${ms} ms`));
        break;
      case Wait.UpstreamDrain:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `upstream took no request body for ${ms} ms`));
        break;
      case Wait.Head:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `no response headers within ${ms} ms of the request`));
        break;
      case Wait.Body:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `upstream sent nothing for ${ms} ms mid-response`));
        break;
      case Wait.ClientDrain:
        this.#fail(new EdgeError('EDGE_ERR_REQUEST_TIMEOUT', `the client read nothing for ${ms} ms`));
        break;
      case Wait.None:
        break;
    }
  }

  /** Stream the client's body upstream; chunked bodies are re-framed (Node decoded them). */
  #sendBody(): void {
    if (this.#bodySent || this.bodyStarted) return;
    this.bodyStarted = true;
    const { req, exchange } = this;
    const socket = this.#conn.socket;
    const chunked = exchange.body === 'chunked';
    // Until the whole body is sent, the clocks are the client's pauses and the upstream's intake;
    // the wait for the response head starts after the last byte (a long upload is not a slow upstream).
    const waiting = (): boolean => exchange.headersAt === 0 && !this.#finished;
    this.#expect(Wait.ClientBody, exchange.bodyTimeout);
    req.on('data', (chunk: Buffer) => {
      if (this.#finished) return;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        ok = socket.write('\r\n');
        socket.uncork();
      } else {
        ok = socket.write(chunk);
      }
      if (!ok) {
        req.pause();
        if (waiting()) this.#expect(Wait.UpstreamDrain, exchange.responseTimeout);
        socket.once('drain', () => {
          if (waiting()) this.#expect(Wait.ClientBody, exchange.bodyTimeout);
          req.resume();
        });
      } else if (waiting()) {
        this.#timer?.refresh();
      }
    });
    req.on('end', () => {
      if (this.#finished) return;
      if (chunked) socket.write(LAST_CHUNK);
      this.#bodySent = true;
      if (waiting()) this.#expect(Wait.Head, exchange.responseTimeout);
    });
    req.resume(); // the pipeline may have paused it (see withinBodyLimit)
  }
}

function timedOut(call: UpstreamCall): void {
  call.timedOut();
}

/** The request line and header block, serialised once per attempt. */
function requestHead(exchange: Exchange): string {
  let head = `${exchange.method} ${exchange.path} HTTP/1.1\r\n`;
  const headers = exchange.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) head += `${name}: ${v}\r\n`;
    }
  }
  if (exchange.body === 'chunked') head += 'transfer-encoding: chunked\r\n';
  // Explicit, so HTTP/1.0-minded upstreams keep the connection too.
  return `${head}connection: keep-alive\r\n\r\n`;
}

/** The one mapping from an upstream failure to an EdgeError (and so to 502 or 504). */
export function classify(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === 'EEDGE_CONNECT_TIMEOUT') return new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', 'upstream connect timed out', err);
  if (isConnectFailure(err)) return new EdgeError('EDGE_ERR_UPSTREAM_CONNECT', `upstream connect failed: ${message}`, err);
  if (typeof code === 'string' && code.startsWith('HPE_')) return new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', `upstream sent an invalid response: ${message}`, err);
  return new EdgeError('EDGE_ERR_UPSTREAM_RESET', `upstream failed: ${message}`, err);
}
