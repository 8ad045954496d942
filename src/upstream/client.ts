import { classifyUpstream, EdgeError } from '../errors.js';
import { decide } from './decide.js';
import { UpstreamAttempt } from './attempt.js';
import type { UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

export type { BodyFraming, UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

/**
 * The one way Gatehouse reaches an upstream, for requests, WebSocket handshakes and health
 * probes alike: choose the client's highest-ranked healthy target (rendezvous), take a pooled
 * connection, write the request, read the answer with the connection's one ResponseParser,
 * then retry or fail by the one decision (decide.ts) and count the target's failure once.
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
    request.call = new UpstreamAttempt(this, request, sink, target);
  }

  /** An attempt failed before or while the upstream answered (called by UpstreamAttempt only). */
  failed(call: UpstreamAttempt, err: unknown): void {
    const { request, sink, target } = call;
    if (request.call !== call) return;
    request.call = undefined;
    if (sink.gone()) return; // the client is gone; nothing to answer, nobody to blame
    const error = classifyUpstream(err);
    const { retry, blame } = decide(call, err, error);
    if (blame && request.upstream.recordFailure(target, Date.now())) this.#hooks.targetDown(target, error);
    if (retry === 'again' || (retry === 'next' && request.pinned === undefined)) {
      if (retry === 'next') (request.tried ??= new Set()).add(target);
      this.send(request, sink);
      return;
    }
    sink.fail(error);
  }
}
