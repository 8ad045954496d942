import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { classifyUpstream, EdgeError, isConnectFailure, isStaleConnection } from '../errors.js';
import { UpstreamCall } from './call.js';
import type { TargetState, Upstream } from './pool.js';
import type { ResponseHead } from './response-parser.js';

/** How the request body travels upstream: none, as-is under Content-Length, or re-chunked. */
export type BodyFraming = 'none' | 'length' | 'chunked';

/**
 * What one exchange asks of an upstream, whatever the client spoke (HTTP/1.1 now, h2 streams
 * later): the pipeline fills it, the attempt path reads it and keeps its progress in the last three
 * fields. The request line and headers go upstream exactly as given (latin1, byte for byte).
 */
export interface UpstreamRequest {
  readonly method: string;
  /** The request-target exactly as received (never normalised: "//" and escapes stay). */
  readonly path: string;
  /** The headers to send upstream (hop-by-hop removed, forwarded headers applied). */
  readonly headers: IncomingHttpHeaders;
  readonly body: BodyFraming;
  readonly upstream: Upstream;
  /** The client's rendezvous key (Upstream.keyOf(clientIp)). */
  readonly key: string;
  readonly connectTimeout: number;
  /** The longest the upstream may keep us waiting: for its head once the request is sent, between body reads, or to take body bytes. */
  readonly responseTimeout: number;
  /** The longest the client may pause while sending its body, or stop reading the response (timeouts.idle). */
  readonly bodyTimeout: number;
  /** For a WebSocket upgrade: the Sec-WebSocket-Key in `headers`; only a 101 answering it is an upgrade. */
  readonly upgradeKey?: string;
  /** Health probes: this target and no other, and no passive failure counted against it. */
  readonly pinned?: TargetState;
  /** The target of the current (or last) attempt. */
  target: TargetState | undefined;
  /** Targets a connect failure ruled out for this exchange. */
  tried: Set<TargetState> | undefined;
  /** The attempt in flight; `call?.abort()` is how a client that left cancels the upstream work. */
  call: UpstreamCall | undefined;
}

/**
 * Where an answer goes: a ServerResponse (proxy/forward.ts), a raw client socket for an upgrade
 * (proxy/tunnel.ts), or nowhere but a verdict (health probes). Called by the attempt path only;
 * exactly one of end, upgrade or fail ends an exchange (abort ends it silently).
 */
export interface UpstreamSink {
  /** The request body, paused; read only once a connection is up, so a connect failure loses none. */
  readonly source: Readable | undefined;
  /** The client is gone: nothing to answer, nobody to blame, nothing to retry. */
  gone(): boolean;
  /** The final head (never a 1xx; a 101 only through `upgrade`). */
  head(head: ResponseHead): void;
  /** A piece of the body; false asks for backpressure, and the sink then calls `call.resume()` once it drained. */
  body(chunk: Buffer): boolean;
  /** The answer is complete; `tail` is its last piece when it came with the end (write both at once). */
  end(tail: Buffer | undefined): void;
  /** A checked 101: the socket now belongs to the sink; `rest` holds the new protocol's first bytes. */
  upgrade(socket: Socket, head: ResponseHead, rest: Buffer, target: TargetState): void;
  /** The exchange failed for good; `error.status` is what to answer if nothing went out yet, else only close. */
  fail(error: EdgeError): void;
}

export interface UpstreamHooks {
  /** A target just crossed maxFails and is now down. */
  targetDown(target: TargetState, error: EdgeError): void;
}

/**
 * RFC 9110 §9.2.2 idempotent methods. PUT and DELETE are retried like GET, as nginx does by
 * default (`proxy_next_upstream` without `non_idempotent` spares only POST, LOCK and PATCH):
 * sending them twice has the effect of sending them once.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

const enum Retry { None, NextTarget, Again }

/**
 * The one retry policy (DESIGN 9 and 14), decided after an attempt failed:
 * - a connect failure (refused, unreachable, connect timeout): nothing was sent, so any method goes
 *   to the next-ranked healthy target (its body waits for the connection, so all of it is there);
 * - a reused keep-alive connection that the upstream had already closed (reset, EPIPE or EOF before
 *   any byte of an answer, a 1xx included): the request is sent again on another connection, but
 *   only when it is idempotent and bodiless (a streamed body is not kept to be replayed);
 * - anything else, and anything after the answer began: no retry.
 */
function retryOf(call: UpstreamCall, err: unknown, error: EdgeError): Retry {
  if (call.answered) return Retry.None;
  if (isConnectFailure(error)) return call.bodyStarted ? Retry.None : Retry.NextTarget;
  const request = call.request;
  if (call.reused && call.untouched && request.body === 'none' && IDEMPOTENT.has(request.method) && isStaleConnection(err)) return Retry.Again;
  return Retry.None;
}

/**
 * The one way Gatehouse reaches an upstream, for requests, WebSocket handshakes and health
 * probes alike: choose the client's highest-ranked healthy target (rendezvous), take a pooled
 * connection, write the request, read the answer with the connection's one ResponseParser,
 * then retry or fail by the one policy above and count the target's failure once.
 *
 * `send(request, sink)` returns at once; the sink hears the outcome: a streamed answer
 * (head, body…, end), an upgraded socket after a checked 101 (status 101, Connection: upgrade,
 * Upgrade: websocket and the Sec-WebSocket-Accept of `upgradeKey`; anything else is 502), or
 * fail(EdgeError). Timeouts: connectTimeout, then responseTimeout for the head and between body
 * reads, bodyTimeout for the client's body and its reading. A client that leaves calls
 * `request.call?.abort()`.
 */
export class UpstreamClient {
  readonly #hooks: UpstreamHooks;

  constructor(hooks: UpstreamHooks) {
    this.#hooks = hooks;
  }

  send(request: UpstreamRequest, sink: UpstreamSink): void {
    const target = request.pinned ?? request.upstream.choose(request.key, Date.now(), request.tried);
    if (target === undefined) {
      sink.fail(new EdgeError('EDGE_ERR_NO_HEALTHY_TARGET', `no healthy target in upstream ${request.upstream.name}`));
      return;
    }
    request.target = target;
    request.call = new UpstreamCall(this, request, sink, target);
  }

  /** An attempt failed before or while the upstream answered (called by UpstreamCall only). */
  failed(call: UpstreamCall, err: unknown): void {
    const { request, sink, target } = call;
    if (request.call !== call) return;
    request.call = undefined;
    if (sink.gone()) return; // the client is gone; nothing to answer, nobody to blame
    const error = classifyUpstream(err);
    const retry = retryOf(call, err, error);
    // A stale pooled connection is nobody's fault, nor is a client that stalled its own body.
    const blame = retry !== Retry.Again && error.code !== 'EDGE_ERR_REQUEST_TIMEOUT' && request.pinned === undefined;
    if (blame && request.upstream.recordFailure(target, Date.now())) this.#hooks.targetDown(target, error);
    if (retry === Retry.Again || (retry === Retry.NextTarget && request.pinned === undefined)) {
      if (retry === Retry.NextTarget) (request.tried ??= new Set()).add(target);
      this.send(request, sink);
      return;
    }
    sink.fail(error);
  }
}
