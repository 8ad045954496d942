import { isConnectFailure, isStaleConnection, type EdgeError } from '../errors.js';
import type { UpstreamRequest } from './request.js';

/**
 * RFC 9110 §9.2.2 idempotent methods. PUT and DELETE are retried like GET, as nginx does by
 * default (`proxy_next_upstream` without `non_idempotent` spares only POST, LOCK and PATCH):
 * sending them twice has the effect of sending them once.
 */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** `next`: another target (this one ruled out); `again`: the same choice on a fresh connection. */
export type Retry = 'none' | 'next' | 'again';

/** What an attempt did before it failed, as the decision reads it (upstream/attempt.ts's UpstreamAttempt has these). */
export interface AttemptFacts {
  /** A final head (or a 1xx) arrived. */
  readonly answered: boolean;
  /** A byte of the request body was read from the client to be sent. */
  readonly bodyStarted: boolean;
  /** The connection carried a request before this one. */
  readonly reused: boolean;
  /** The parser saw no byte of an answer on it. */
  readonly untouched: boolean;
  readonly request: Pick<UpstreamRequest, 'method' | 'body' | 'pinned'>;
}

export interface Decision {
  readonly retry: Retry;
  /** Count the failure against the target (passive health). */
  readonly blame: boolean;
}

/**
 * The one retry and blame decision, pure, made after an attempt failed with `err` (classified as `error`):
 * - a connect failure (refused, unreachable, connect timeout): nothing was sent, so any method goes
 *   to the next-ranked healthy target (its body waits for the connection, so all of it is there);
 * - a reused keep-alive connection that the upstream had already closed (reset, EPIPE or EOF before
 *   any byte of an answer, a 1xx included): the request is sent again on another connection, but
 *   only when it is idempotent and bodiless (a streamed body is not kept to be replayed) — RFC 9112 §9.3.1;
 * - anything else, and anything after the answer began: no retry.
 * Blame follows the error's source: only an `upstream` failure counts against the target, never
 * a stale pooled connection (nobody's fault), a client that stalled its own body, or a health
 * probe (pinned: its verdict is counted by the health check itself).
 */
export function decide(attempt: AttemptFacts, err: unknown, error: EdgeError): Decision {
  const retry = retryOf(attempt, err, error);
  const blame = retry !== 'again' && error.source === 'upstream' && attempt.request.pinned === undefined;
  return { retry, blame };
}

function retryOf(attempt: AttemptFacts, err: unknown, error: EdgeError): Retry {
  if (attempt.answered) return 'none';
  if (isConnectFailure(error)) return attempt.bodyStarted ? 'none' : 'next';
  const request = attempt.request;
  if (attempt.reused && attempt.untouched && request.body === 'none' && IDEMPOTENT.has(request.method) && isStaleConnection(err)) return 'again';
  return 'none';
}
