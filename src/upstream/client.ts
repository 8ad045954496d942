import { classifyUpstream, EdgeError } from '../errors.js';
import { decide } from './decide.js';
import { UpstreamAttempt, type AttemptOwner } from './attempt.js';
import type { TargetState } from './targets.js';
import type { UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

export type { BodyFraming, UpstreamHooks, UpstreamRequest, UpstreamSink } from './request.js';

/**
 * The one way Gatehouse reaches an upstream, for requests, WebSocket handshakes and health
 * probes alike: choose the client's highest-ranked healthy target (rendezvous), take a pooled
 * connection, write the request, read the answer with the connection's one ResponseParser,
 * then retry or fail by the one decision (decide.ts) and count the target's failure once.
 *
 * `send(request, sink)` returns at once with the Sending that carries it; the sink hears the
 * outcome: a streamed answer (head, body…, end), an upgraded socket after a checked 101 (status
 * 101, Connection: upgrade, Upgrade: websocket and the Sec-WebSocket-Accept of `upgradeKey`;
 * anything else is 502), or fail(EdgeError). Timeouts: connectTimeout, then responseTimeout for
 * the head and between body reads, bodyTimeout for the client's body and its reading. A client
 * that leaves calls the Sending's `abort()`.
 */
export class UpstreamClient {
  readonly #hooks: UpstreamHooks;

  constructor(hooks: UpstreamHooks) {
    this.#hooks = hooks;
  }

  send(request: UpstreamRequest, sink: UpstreamSink): Sending {
    return new Sending(this.#hooks, request, sink);
  }
}

/**
 * One request on its way to an upstream, across its attempts: what the caller asked
 * (`request`, `sink`) and the retry state that is nobody else's — the target of the current
 * (or last) attempt, the targets a connect failure ruled out, the attempt in flight.
 * Made by UpstreamClient.send(), which starts its first attempt.
 */
export class Sending implements AttemptOwner {
  readonly request: UpstreamRequest;
  readonly sink: UpstreamSink;
  readonly #hooks: UpstreamHooks;
  #target: TargetState | undefined;
  /** Made on the first connect failure only: most requests never retry. */
  #tried: Set<TargetState> | undefined;
  /** Until it ends (answered, upgraded, failed or aborted). */
  #attempt: UpstreamAttempt | undefined;

  constructor(hooks: UpstreamHooks, request: UpstreamRequest, sink: UpstreamSink) {
    this.#hooks = hooks;
    this.request = request;
    this.sink = sink;
    this.#next();
  }

  /** The target of the current (or last) attempt; undefined when no healthy target was left for the first. */
  get target(): TargetState | undefined {
    return this.#target;
  }

  /** Targets a connect failure ruled out, in the order they failed; undefined while none did. */
  get tried(): ReadonlySet<TargetState> | undefined {
    return this.#tried;
  }

  /** The client left: stop the upstream work, answer nobody. Nothing happens once it ended. */
  abort(): void {
    this.#attempt?.abort();
  }

  /** The sink drained after `body()` returned false: read on. */
  resume(): void {
    this.#attempt?.resume();
  }

  /** The attempt ended without a failure (answered, upgraded or aborted): nothing in flight. */
  ended(attempt: UpstreamAttempt): void {
    if (this.#attempt === attempt) this.#attempt = undefined;
  }

  /** An attempt failed before or while the upstream answered (called by UpstreamAttempt only). */
  failed(attempt: UpstreamAttempt, err: unknown): void {
    if (this.#attempt !== attempt) return;
    this.#attempt = undefined;
    const { request, sink } = this;
    const target = attempt.target;
    if (sink.gone()) return; // the client is gone; nothing to answer, nobody to blame
    const error = classifyUpstream(err);
    const { retry, blame } = decide(attempt, err, error);
    if (blame && request.upstream.recordFailure(target, Date.now())) this.#hooks.targetDown(target, error);
    if (retry === 'again' || (retry === 'next' && request.pinned === undefined)) {
      if (retry === 'next') (this.#tried ??= new Set()).add(target);
      this.#next(error);
      return;
    }
    sink.fail(error);
  }

  /** The next attempt: the pinned target, or the client's best healthy one not yet ruled out. */
  #next(cause?: EdgeError): void {
    const request = this.request;
    const target = request.pinned ?? request.upstream.choose(request.key, this.#tried);
    if (target === undefined) {
      // After a failed attempt, its cause stays in the message (the access line's `err`): the code
      // says no target was left, the message says why the last one was not enough.
      const why = cause === undefined ? '' : ` (last attempt: ${cause.code}: ${cause.message})`;
      this.sink.fail(new EdgeError('EDGE_ERR_NO_HEALTHY_TARGET', `no healthy target in upstream ${request.upstream.name}${why}`, cause));
      return;
    }
    this.#target = target;
    this.#attempt = new UpstreamAttempt(this, request, this.sink, target);
  }
}
