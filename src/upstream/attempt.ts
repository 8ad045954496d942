import { classifyUpstream, EdgeError, isConnectFailure, isStaleConnection } from '../errors.js';
import { UpstreamCall } from './call.js';
import type { UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

export type { BodyFraming, UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

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
