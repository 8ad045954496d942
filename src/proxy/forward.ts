import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { EdgeError } from '../errors.js';
import type { ErrorPagesConfig } from '../config/files.js';
import { compressPairs, type Offer } from '../compress/policy.js';
import { Encoder } from '../compress/encoder.js';
import { responseHeaders } from '../http/hop-by-hop.js';
import {
  bodyOf, FieldNames, isH2, rawHeader, responseComplete, responseGone,
  type ClientRequest as IncomingMessage, type ClientResponse as ServerResponse, type Protocol,
} from '../http/message.js';
import type { Sending, UpstreamClient, UpstreamRequest, UpstreamSink } from '../upstream/client.js';
import type { ResponseHead } from '../upstream/response-parser.js';

export type { BodyFraming } from '../upstream/client.js';

/** Everything the proxy step needs about one request, decided by the pipeline before it. */
export interface Exchange extends UpstreamRequest {
  readonly protocol: Protocol;
  readonly host: string;
  readonly clientIp: string;
  /** Route label for metrics ("host/path"). */
  readonly label: string;
  /** null on the :80 listener (plainHttp: serve): no HSTS over plain HTTP. */
  readonly hsts: string | null;
  /** Add `Connection: close` to the client's response (the edge is draining). */
  readonly closeClient: boolean;
  /** The route's `accessLog`: false writes no access line for it (metrics still count it). */
  readonly accessLog: boolean;
  bytes: number;
  /** performance.now() when the pipeline accepted the request, and when upstream headers arrived (0 = never). */
  readonly start: number;
  headersAt: number;
  /** Why Gatehouse answered instead of the upstream, if it did. */
  error: EdgeError | undefined;
  /** The route's `compress` as this request allows it (compress/policy.ts); undefined: off. */
  readonly compress: Offer | undefined;
  /** The site's errorPages (their `upstream: true` replaces the upstream's own bodies). */
  readonly pages: ErrorPagesConfig | undefined;
  /** Set when the site has internal routes: serves an answer's X-Accel-Redirect (pipeline/accel.ts). */
  readonly accel: ((location: string, headers: readonly string[]) => void) | undefined;
  /** The request-target as the client sent it (logs); `path` is what goes upstream. */
  readonly clientPath: string;
  /** The route's edits of the answer (header rules, Location rewriting); null: none. */
  readonly shaper: AnswerShaper | null;
  /** What the shaper's placeholders read (the pipeline's RequestContext); null when none is used. */
  readonly context: object | null;
  /** `{request_id}`, when the route uses it: the log line carries it as requestId. */
  readonly requestId: string | undefined;
  /** A response cache watching this exchange (cache/); undefined on routes without `cache`. */
  tap: AnswerTap | undefined;
  /** The upstream side once its turn came (its `target` is what logs and Location rewriting name); undefined for a stored answer. */
  sending: Sending | undefined;
}

/** An answer kept by a cache, written through the same path as an upstream's (rules, compression, HSTS). */
export interface StoredAnswer {
  readonly head: ResponseHead;
  readonly body: Buffer;
}

/**
 * What a response cache sees of an exchange. It is shown the upstream's head first and may put a
 * stored answer in its place (a 304 that refreshed an entry, a stale answer on a 5xx); it is fed
 * the body it chose to keep, told when the answer ended, failed or was cut short.
 */
export interface AnswerTap {
  /** The head to write (the cache's Cache-Status added) and, when a stored answer replaces the upstream's, its body. */
  head(head: ResponseHead): { readonly head: ResponseHead; readonly body: Buffer | undefined };
  body(chunk: Buffer): void;
  end(): void;
  /** Nothing went out yet: a stored answer to give instead of the error, or the Cache-Status the error answer carries. */
  fail(error: EdgeError): StoredAnswer | string;
  /** The answer was cut short (client gone, upstream broke mid-body): nothing is kept. */
  abort(): void;
}

/** Route-level edits of an answer, made once per route at load by the pipeline. */
export interface AnswerShaper {
  /** An upstream's head, as the flat pairs the client gets. `socket` is the client's (its local port is the client-facing one). */
  shape(exchange: Exchange, status: number, pairs: string[], socket: Socket | IncomingMessage['socket']): void;
}

/** Observation of the exchanges: logs and metrics (hooks.ts). */
export interface ForwardHooks {
  /** The client's response closed (finished or not); exactly once per exchange that started. */
  done(exchange: Exchange, res: ServerResponse): void;
}

/**
 * The answers the edge writes in the upstream's place, under the route's header rules and with
 * the exchange's own HSTS (pipeline/answers.ts): the proxy step only says which.
 */
export interface StandInAnswers {
  /** A generated error response (502/504…, or a site's error page for it). */
  fail(res: ServerResponse, error: EdgeError, exchange: Exchange): void;
  /** errorPages.upstream: the site's page `file` replaces the body of the upstream's `status` answer. */
  page(res: ServerResponse, status: number, file: string, exchange: Exchange): void;
}

/**
 * One client connection's line of exchanges. Node's server emits 'request' for every pipelined
 * request as soon as it is parsed, so without this line 2,000 GETs in one write would be 2,000
 * upstream requests at once. Here one is in flight upstream and the rest wait their turn
 * (README "What it does, and why": Pipelining); when the client leaves, those still waiting are dropped unsent — as nginx, which
 * would not even have read them.
 */
class ClientLine {
  current: HttpExchange | undefined;
  readonly waiting: HttpExchange[] = [];
}

/**
 * HTTP requests to upstreams through the one upstream client (upstream/client.ts), streamed to the
 * client's ServerResponse with backpressure, one exchange at a time per client connection.
 */
export class Forwarder {
  readonly #hooks: ForwardHooks;
  readonly #answers: StandInAnswers;
  readonly #client: UpstreamClient;
  /** Keyed by the h1 client's socket. */
  readonly #lines = new WeakMap<object, ClientLine>();
  /**
   * The line of every h2 stream and every replayed answer: never started nor queued on, so
   * finished() leaves it alone. An h2 stream goes upstream at once (streams stay multiplexed:
   * each is an exchange of its own), so it needs no line object per stream.
   */
  readonly #unqueued = new ClientLine();
  /** The lower-case names of the h2 answers' fields, remembered from the answers before. */
  readonly fieldNames = new FieldNames();

  constructor(client: UpstreamClient, hooks: ForwardHooks, answers: StandInAnswers) {
    this.#client = client;
    this.#hooks = hooks;
    this.#answers = answers;
  }

  web(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    if (isH2(res)) {
      const x = new HttpExchange(this, this.#unqueued, req, res, exchange);
      // Called from the front door's own 'close' listener of the stream: no second listener per stream.
      res.whenClosed(x.closed);
      x.send(this.#client);
      return;
    }
    const line = this.#lineOf(req.socket);
    const x = new HttpExchange(this, line, req, res, exchange);
    whenClosed(res, x.closed);
    if (line.current === undefined) this.#start(x);
    else line.waiting.push(x);
  }

  #lineOf(socket: IncomingMessage['socket']): ClientLine {
    let line = this.#lines.get(socket);
    if (line === undefined) {
      line = new ClientLine();
      this.#lines.set(socket, line);
      const waiting = line.waiting;
      socket.once('close', () => { waiting.length = 0; });
    }
    return line;
  }

  #start(x: HttpExchange): void {
    x.line.current = x;
    x.send(this.#client);
  }

  /** An exchange's response closed: log it, then let the next one of its connection go upstream. */
  finished(x: HttpExchange): void {
    this.#hooks.done(x.exchange, x.res);
    const line = x.line;
    if (line.current !== x) return;
    line.current = undefined;
    let next = line.waiting.shift();
    while (next !== undefined && next.gone()) next = line.waiting.shift();
    if (next !== undefined) this.#start(next);
  }

  /** A stored answer, written as an upstream's would be (cache hits): nothing goes upstream. */
  replay(req: IncomingMessage, res: ServerResponse, exchange: Exchange, answer: StoredAnswer): void {
    const x = new HttpExchange(this, this.#unqueued, req, res, exchange);
    x.started = true;
    whenClosed(res, x.closed);
    x.head(answer.head, answer.body);
    x.end(answer.body);
  }

  failed(res: ServerResponse, error: EdgeError, exchange: Exchange): void {
    this.#answers.fail(res, error, exchange);
  }

  page(res: ServerResponse, status: number, file: string, exchange: Exchange): void {
    this.#answers.page(res, status, file, exchange);
  }
}

/** The HTTP sink of one exchange: the upstream's answer written to the client's ServerResponse. */
class HttpExchange implements UpstreamSink {
  readonly #forwarder: Forwarder;
  readonly line: ClientLine;
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly exchange: Exchange;
  readonly source: Readable | undefined;
  started = false;
  /** Set once this exchange went upstream; never for a stored answer. */
  #sending: Sending | undefined;
  /** Made on the first backpressure only (the sink's drain, or its encoder's): most answers never wait. */
  #drained: (() => void) | undefined;
  /** Set when the route's `compress` applies to this answer. */
  #encoder: Encoder | undefined;
  /** An error page stands in for the upstream's body. */
  #discard = false;
  /** A cache's stored body stands in for the upstream's (AnswerTap.head). */
  #stored: Buffer | undefined;

  constructor(forwarder: Forwarder, line: ClientLine, req: IncomingMessage, res: ServerResponse, exchange: Exchange) {
    this.#forwarder = forwarder;
    this.line = line;
    this.req = req;
    this.res = res;
    this.exchange = exchange;
    this.source = exchange.body === 'none' ? undefined : bodyOf(req);
  }

  send(client: UpstreamClient): void {
    this.started = true;
    this.#sending = client.send(this.exchange, this);
    this.exchange.sending = this.#sending;
  }

  readonly closed = (): void => {
    if (!this.started) return; // dropped unsent from a connection that closed
    // The client left before the response finished: abort upstream at once.
    if (!responseComplete(this.res)) {
      this.#sending?.abort();
      this.#encoder?.destroy();
      this.exchange.tap?.abort();
    }
    this.#forwarder.finished(this);
  };

  gone(): boolean {
    return responseGone(this.res) || this.req.socket.destroyed;
  }

  /** `stored`: a cache's answer stands in (a replay, or a stale one instead of an error). */
  head(upstream: ResponseHead, stored?: Buffer): void {
    const { exchange, res } = this;
    this.#stored = stored;
    // Only an upstream's head is timed: a stored answer never went upstream (a hit), or stands in for one that failed.
    if (stored === undefined) exchange.headersAt = performance.now();
    if (responseGone(res)) {
      this.#sending?.abort();
      exchange.tap?.abort();
      return;
    }
    let head = upstream;
    if (exchange.tap !== undefined) {
      const tapped = exchange.tap.head(head);
      head = tapped.head;
      this.#stored = tapped.body;
    }
    const accel = exchange.accel === undefined ? undefined : rawHeader(head.headers, 'x-accel-redirect')?.trim();
    if (accel !== undefined && exchange.accel !== undefined) {
      // The upstream's body is drained and dropped; the file stands in (README "Serving files": X-Accel-Redirect).
      this.#discard = true;
      exchange.accel(accel, responseHeaders(head.headers, head.connectionTokens, exchange.hsts, exchange.closeClient, head.status));
      return;
    }
    const page = exchange.pages?.upstream === true ? exchange.pages.pages.get(head.status) : undefined;
    if (page !== undefined) {
      // errorPages.upstream (nginx proxy_intercept_errors): the page replaces the upstream's
      // body, which is read and dropped so its connection stays reusable.
      this.#discard = true;
      this.#forwarder.page(res, head.status, page, exchange);
      return;
    }
    // A stored block went through responseHeaders() when it was stored (cache/policy.ts): only the edge's own fields are added.
    const headers = this.#stored === undefined ? responseHeaders(head.headers, head.connectionTokens, exchange.hsts, exchange.closeClient, head.status) : edgeFields(head.headers, exchange);
    // Rules first, then compression: a rule's `Cache-Control: no-transform` must stop it (RFC 9110 §7.7).
    if (exchange.shaper !== null) exchange.shaper.shape(exchange, head.status, headers, this.req.socket);
    // The declared length is read before compressPairs() drops it: a short body is compressed in one job.
    const declared = exchange.compress === undefined ? undefined : rawHeader(headers, 'content-length');
    const coding = exchange.compress === undefined ? undefined : compressPairs(exchange.compress, head.status, headers);
    if (coding !== undefined) this.#encoder = new Encoder(coding, res, declared === undefined ? undefined : Number(declared));
    // RFC 9113 §8.3.2: h2 has no reason phrase; responseHeaders() already dropped every
    // connection-specific field (§8.2.2), which Node would otherwise refuse with a throw.
    if (isH2(res)) res.writeHead(head.status, this.#forwarder.fieldNames.object(headers));
    else if (head.reason === '') res.writeHead(head.status, headers);
    else res.writeHead(head.status, head.reason, headers);
  }

  body(chunk: Buffer): boolean {
    this.exchange.bytes += chunk.length;
    // The tap reads the upstream's body even when it gave a stored answer (a 304 to the client's
    // conditional while the whole answer is stored); a tap with nothing to store ignores it.
    this.exchange.tap?.body(chunk);
    if (this.#stored !== undefined || this.#discard) return true;
    if (this.#encoder !== undefined) return this.#encoder.write(chunk, this.#onDrain());
    if ((this.res as { write(chunk: Buffer): boolean }).write(chunk)) return true;
    this.res.once('drain', this.#onDrain());
    return false;
  }

  #onDrain(): () => void {
    return this.#drained ??= () => this.#sending?.resume();
  }

  end(upstreamTail: Buffer | undefined): void {
    let tail = upstreamTail;
    const tap = this.exchange.tap;
    if (tap !== undefined) {
      if (tail !== undefined) tap.body(tail);
      tap.end();
    }
    if (this.#stored !== undefined) tail = this.#stored;
    if (this.#discard) return;
    if (this.#encoder !== undefined) {
      if (tail !== undefined) this.exchange.bytes += tail.length;
      this.#encoder.end(tail);
      return;
    }
    if (tail === undefined || tail.length === 0) {
      this.res.end();
    } else {
      // Head and last piece in one write (one TLS record, one syscall for small answers).
      this.exchange.bytes += tail.length;
      this.res.end(tail);
    }
  }

  upgrade(socket: Socket): void {
    socket.destroy(); // never asked for: the parser refuses a 101 to a plain request
  }

  fail(error: EdgeError): void {
    this.exchange.error = error;
    const tap = this.exchange.tap;
    // Once a byte of the answer went out, the only honest signal left is closing the connection.
    if (this.res.headersSent) {
      tap?.abort();
      this.res.destroy();
      return;
    }
    const stale = tap?.fail(error);
    if (typeof stale === 'string') this.res.setHeader('cache-status', stale);
    else if (stale !== undefined) {
      // useStale / stale-if-error (RFC 5861 §4): the stored answer stands in for the error.
      this.exchange.tap = undefined;
      this.head(stale.head, stale.body);
      this.end(stale.body);
      return;
    }
    this.#forwarder.failed(this.res, error, this.exchange);
  }
}

/**
 * An h1 response emits 'close' once (Node's emitCloseNT checks `_closed`): `on` spares the
 * once-wrapper Node makes and removes per request. H2Response offers `once` only.
 */
function whenClosed(res: ServerResponse, listener: () => void): void {
  if (isH2(res)) res.once('close', listener);
  else res.on('close', listener);
}

/** A stored answer's header block (already without hop-by-hop fields) with this exchange's HSTS and Connection: close. */
function edgeFields(stored: readonly string[], exchange: Exchange): string[] {
  const out = stored.slice();
  if (exchange.hsts !== null) out.push('strict-transport-security', exchange.hsts);
  if (exchange.closeClient) out.push('connection', 'close');
  return out;
}
