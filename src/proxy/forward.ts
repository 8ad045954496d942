import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import httpProxy from 'http-proxy';
import { EdgeError, isConnectFailure } from '../errors.js';
import { stripHopByHop } from '../pipeline/hop-by-hop.js';
import type { TargetState, Upstream } from '../upstream/pool.js';

/** Everything the proxy step needs about one request, decided by the pipeline before it. */
export interface Exchange {
  readonly method: string;
  readonly host: string;
  readonly clientIp: string;
  /** Route label for metrics ("host/path"). */
  readonly label: string;
  readonly upstream: Upstream;
  readonly key: string;
  readonly hsts: string;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  /** Safe to replay on another target after a connect failure: no body was (or will be) sent. */
  readonly replayable: boolean;
  /** The request-target exactly as received (http-proxy would collapse "//" and re-escape). */
  readonly path: string;
  target: TargetState | undefined;
  tried: Set<TargetState> | undefined;
  proxyReq: ClientRequest | undefined;
  timer: NodeJS.Timeout | undefined;
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

const EXCHANGE = Symbol('gatehouse.exchange');
type Tagged = IncomingMessage & { [EXCHANGE]?: Exchange };

/**
 * Proxies HTTP through http-proxy with one keep-alive agent per target, and owns what
 * http-proxy 1.18.1 gets wrong: its `aborted` detection (broken since Node 15.5), upstream
 * errors that would otherwise be unhandled, the Connection header it forwards, and path
 * rewriting. Connect failures move to the client's next-ranked healthy target.
 */
export class Forwarder {
  readonly #proxy: httpProxy;
  readonly #hooks: ForwardHooks;

  constructor(hooks: ForwardHooks) {
    this.#hooks = hooks;
    // selfHandleResponse: the response headers are filtered here, not by http-proxy's passes.
    // toProxy: skip its per-request url.parse (the path is set exactly in onProxyReq anyway).
    this.#proxy = httpProxy.createProxyServer({ xfwd: false, selfHandleResponse: true, toProxy: true, ws: false });
    this.#proxy.on('proxyReq', (proxyReq, req) => this.#onProxyReq(proxyReq, req as Tagged));
    this.#proxy.on('proxyRes', (proxyRes, req, res) => this.#onProxyRes(proxyRes, req as Tagged, res as ServerResponse));
    // Without a listener http-proxy throws on 'error' events it emits itself; route them to the callback path.
    this.#proxy.on('error', (err, req, res) => this.#onError(err, req as Tagged, res as ServerResponse));
    this.#proxy.on('econnreset', () => { /* client went away first; onClientClose already aborted upstream */ });
  }

  web(req: IncomingMessage, res: ServerResponse, exchange: Exchange): void {
    (req as Tagged)[EXCHANGE] = exchange;
    res.once('close', () => {
      // The client left before the response finished: abort upstream at once (http-proxy's
      // req 'aborted' listener never fires on Node >= 15.5).
      if (!res.writableFinished) exchange.proxyReq?.destroy();
      clearTimeout(exchange.timer);
      this.#hooks.done(exchange, res);
    });
    this.#attempt(req as Tagged, res, exchange);
  }

  #attempt(req: Tagged, res: ServerResponse, exchange: Exchange): void {
    const now = Date.now();
    const target = exchange.upstream.choose(exchange.key, now, exchange.tried);
    if (target === undefined) {
      this.#finish(res, exchange, new EdgeError('EDGE_ERR_NO_HEALTHY_TARGET', `no healthy target in upstream ${exchange.upstream.name}`));
      return;
    }
    exchange.target = target;
    exchange.proxyReq = undefined;
    this.#proxy.web(req, res, { target: target.proxyTarget, agent: target.agent }, (err) => this.#onError(err, req, res));
  }

  #onProxyReq(proxyReq: ClientRequest, req: Tagged): void {
    const exchange = req[EXCHANGE];
    if (exchange === undefined) return;
    exchange.proxyReq = proxyReq;
    proxyReq.path = exchange.path;
    const socket = proxyReq.socket;
    if (socket?.connecting) {
      exchange.timer = setTimeout(() => proxyReq.destroy(Object.assign(new Error('connect timeout'), { code: 'EEDGE_CONNECT_TIMEOUT' })), exchange.connectTimeout);
      socket.once('connect', () => {
        clearTimeout(exchange.timer);
        this.#armResponseTimer(proxyReq, exchange);
      });
    } else {
      this.#armResponseTimer(proxyReq, exchange);
    }
  }

  #armResponseTimer(proxyReq: ClientRequest, exchange: Exchange): void {
    exchange.timer = setTimeout(() => proxyReq.destroy(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `no response headers within ${exchange.responseTimeout} ms`)), exchange.responseTimeout);
  }

  #onProxyRes(proxyRes: IncomingMessage, req: Tagged, res: ServerResponse): void {
    const exchange = req[EXCHANGE];
    if (exchange === undefined) return;
    clearTimeout(exchange.timer);
    exchange.headersAt = performance.now();
    exchange.target?.recordSuccess();
    const headers: OutgoingHttpHeaders = proxyRes.headers;
    stripHopByHop(headers);
    delete headers['strict-transport-security']; // the edge's policy replaces the upstream's (e.g. max-age=0)
    headers['strict-transport-security'] = exchange.hsts;
    if (res.destroyed) {
      proxyRes.destroy();
      return;
    }
    res.writeHead(proxyRes.statusCode ?? 502, proxyRes.statusMessage, headers);
    proxyRes.on('data', (chunk: Buffer) => { exchange.bytes += chunk.length; });
    proxyRes.on('error', () => res.destroy());
    proxyRes.on('aborted', () => res.destroy());
    proxyRes.pipe(res);
  }

  #onError(err: unknown, req: Tagged, res: ServerResponse): void {
    const exchange = req[EXCHANGE];
    if (exchange === undefined) return;
    clearTimeout(exchange.timer);
    // (req.destroyed is no signal: a fully read request is auto-destroyed after 'end'.)
    if (res.destroyed || req.socket.destroyed) {
      // The client is gone; nothing to answer, nobody to blame.
      exchange.proxyReq?.destroy();
      return;
    }
    const target = exchange.target;
    const now = Date.now();
    const connectFailure = isConnectFailure(err);
    // A reused keep-alive socket the upstream closed just before our request: the request
    // never reached it (RFC 9112 §9.3.1 lets clients retry idempotent requests here).
    const staleSocket = !connectFailure && (err as { code?: string }).code === 'ECONNRESET'
      && exchange.proxyReq?.reusedSocket === true && !res.headersSent;
    if (target !== undefined && !staleSocket) {
      if (exchange.upstream.recordFailure(target, now)) this.#hooks.targetDown(target, err);
    }
    if ((connectFailure || staleSocket) && exchange.replayable && !res.headersSent && target !== undefined) {
      if (!staleSocket) (exchange.tried ??= new Set()).add(target);
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

  close(): void {
    this.#proxy.close();
  }
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
