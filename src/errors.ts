/**
 * Stable error codes: the ONE table of code → HTTP status → body text → source. Tests assert
 * `err.code`, never message text, and `classifyUpstream` below is the only place that decides
 * which status an upstream failure becomes (cf. Caddy's statusError, undici's lib/core/errors.js).
 * Status 0: the error never reaches a client (startup, config). The source says whose doing it
 * was, and so whom to blame (as pingora's errors carry theirs): `client` (a refusal of what the
 * client sent or did), `upstream` (counted against the target), `edge` (Gatehouse's own state).
 */
export type ErrorSource = 'client' | 'upstream' | 'edge';

export const ERRORS = {
  EDGE_ERR_CONFIG: { status: 0, text: 'configuration error', source: 'edge' },
  EDGE_ERR_CERT: { status: 0, text: 'certificate error', source: 'edge' },
  EDGE_ERR_LISTEN: { status: 0, text: 'cannot listen', source: 'edge' },
  /** The rate-limit store (primary or Redis) did not answer: the request was served (fail open). */
  EDGE_ERR_RATELIMIT_STORE: { status: 0, text: 'rate-limit store unreachable', source: 'edge' },
  EDGE_ERR_BAD_REQUEST: { status: 400, text: 'bad request', source: 'client' },
  /** A WebSocket handshake (h1 Upgrade, h2 extended CONNECT) announcing a body: Content-Length other than 0, or any Transfer-Encoding. */
  EDGE_ERR_UPGRADE_BODY: { status: 400, text: 'a WebSocket handshake carries no body', source: 'client' },
  /** auth.basic: no, malformed or wrong credentials (answered with WWW-Authenticate). */
  EDGE_ERR_UNAUTHORIZED: { status: 401, text: 'authentication required', source: 'client' },
  /** access.deny matched the client address, or a non-empty access.allow did not. */
  EDGE_ERR_ACCESS_DENIED: { status: 403, text: 'access denied', source: 'client' },
  EDGE_ERR_FORBIDDEN_ORIGIN: { status: 403, text: 'origin not allowed', source: 'client' },
  EDGE_ERR_NO_ROUTE: { status: 404, text: 'no route', source: 'client' },
  /** A `files` route found no file (and has no fallback). */
  EDGE_ERR_FILE_NOT_FOUND: { status: 404, text: 'not found', source: 'client' },
  /** A `files` path refused by the path rules (traversal, NUL, dot file, symlink out of root): same answer as a missing file. */
  EDGE_ERR_FILE_UNSAFE: { status: 404, text: 'not found', source: 'client' },
  /** An `internal` route asked for by a client rather than an upstream's X-Accel-Redirect. */
  EDGE_ERR_INTERNAL_ROUTE: { status: 404, text: 'not found', source: 'client' },
  EDGE_ERR_METHOD_NOT_ALLOWED: { status: 405, text: 'method not allowed', source: 'client' },
  /** The client paused its body, or stopped reading the answer, past timeouts.idle. */
  EDGE_ERR_REQUEST_TIMEOUT: { status: 408, text: 'request body timed out', source: 'client' },
  /** If-Match / If-Unmodified-Since did not hold for a file (RFC 9110 §13.1.1). */
  EDGE_ERR_PRECONDITION_FAILED: { status: 412, text: 'precondition failed', source: 'client' },
  EDGE_ERR_BODY_TOO_LARGE: { status: 413, text: 'request body too large', source: 'client' },
  /** A Range no byte of the file satisfies (RFC 9110 §15.5.17). */
  EDGE_ERR_RANGE_NOT_SATISFIABLE: { status: 416, text: 'range not satisfiable', source: 'client' },
  /** An Expect other than 100-continue (RFC 9110 §10.1.1). */
  EDGE_ERR_EXPECTATION_FAILED: { status: 417, text: 'expectation failed', source: 'client' },
  /** A path longer than a site with regex routes matches (nginx's 8k request line gives 414 too). */
  EDGE_ERR_URI_TOO_LONG: { status: 414, text: 'URI too long', source: 'client' },
  EDGE_ERR_MISDIRECTED: { status: 421, text: 'misdirected request', source: 'client' },
  EDGE_ERR_UPGRADE_REQUIRED: { status: 426, text: 'upgrade required', source: 'client' },
  /** Over a rateLimits budget (answered with Retry-After). */
  EDGE_ERR_RATE_LIMITED: { status: 429, text: 'rate limit exceeded', source: 'client' },
  /** Too many failed auth.basic logins from one client address. */
  EDGE_ERR_AUTH_THROTTLED: { status: 429, text: 'too many failed logins', source: 'client' },
  EDGE_ERR_HEADERS_TOO_LARGE: { status: 431, text: 'request headers too large', source: 'client' },
  EDGE_ERR_INTERNAL: { status: 500, text: 'internal error', source: 'edge' },
  /** A client Transfer-Encoding other than `chunked` alone (nginx answers 501 too). */
  EDGE_ERR_NOT_IMPLEMENTED: { status: 501, text: 'transfer coding not implemented', source: 'client' },
  /** Refused, unreachable, DNS: nothing was sent, so another target may be tried. */
  EDGE_ERR_UPSTREAM_CONNECT: { status: 502, text: 'upstream unavailable', source: 'upstream' },
  /** The connection broke after the request (or part of it) went out. */
  EDGE_ERR_UPSTREAM_RESET: { status: 502, text: 'upstream unavailable', source: 'upstream' },
  /** The upstream's answer broke HTTP/1.1 framing rules (RFC 9112). */
  EDGE_ERR_UPSTREAM_PROTOCOL: { status: 502, text: 'upstream sent an invalid response', source: 'upstream' },
  /** A Transfer-Encoding other than `chunked` alone (nginx answers 502 too). */
  EDGE_ERR_UPSTREAM_CODING: { status: 502, text: 'upstream sent an unsupported transfer coding', source: 'upstream' },
  /** A 101 without Connection: upgrade, Upgrade: websocket and the right Sec-WebSocket-Accept (RFC 6455 §4.1). */
  EDGE_ERR_UPSTREAM_HANDSHAKE: { status: 502, text: 'upstream sent an invalid WebSocket handshake', source: 'upstream' },
  EDGE_ERR_NO_HEALTHY_TARGET: { status: 502, text: 'no upstream available', source: 'edge' },
  EDGE_ERR_SHUTTING_DOWN: { status: 503, text: 'shutting down', source: 'edge' },
  /** Connect took longer than timeouts.connect: retried elsewhere like any connect failure, 504 when none is left. */
  EDGE_ERR_UPSTREAM_CONNECT_TIMEOUT: { status: 504, text: 'upstream timed out', source: 'upstream' },
  EDGE_ERR_UPSTREAM_TIMEOUT: { status: 504, text: 'upstream timed out', source: 'upstream' },
} as const satisfies Record<string, { readonly status: number; readonly text: string; readonly source: ErrorSource }>;

export type EdgeErrorCode = keyof typeof ERRORS;

/** The status a refusal with this code is answered with: every status Gatehouse writes comes from the table. */
export function statusOf(code: EdgeErrorCode): number {
  return ERRORS[code].status;
}

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  override readonly cause: unknown;

  constructor(code: EdgeErrorCode, message: string, cause?: unknown) {
    // No stack: an EdgeError is an expected outcome named by its code (a 429, a 403, a refused
    // connect), made on the request path, where V8's stack capture cost more than the refusal
    // itself (~25 µs against ~2 µs per error on a loaded 2-core box). A cause keeps its own stack.
    const depth = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(message);
    Error.stackTraceLimit = depth;
    this.name = 'EdgeError';
    this.code = code;
    this.cause = cause;
  }

  /** The HTTP status this failure is answered with (0 for errors that never reach a client). */
  get status(): number {
    return ERRORS[this.code].status;
  }

  /** The body text of the answer Gatehouse writes for it. */
  get text(): string {
    return ERRORS[this.code].text;
  }

  /** Whose doing it was: an `upstream` failure is counted against its target, nothing else is. */
  get source(): ErrorSource {
    return ERRORS[this.code].source;
  }
}

/**
 * Socket errors that mean the connection was never made: nothing reached the upstream. ENOENT and
 * EACCES come from `unix:` targets (no socket at the path; no write permission on it), connect(2).
 */
const CONNECT_ERRNOS = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'ENOENT', 'EACCES']);

/** True when the failure happened before the upstream could have seen a byte: safe to try another target. */
export function isConnectFailure(error: EdgeError): boolean {
  return error.code === 'EDGE_ERR_UPSTREAM_CONNECT' || error.code === 'EDGE_ERR_UPSTREAM_CONNECT_TIMEOUT';
}

/** The one mapping from whatever an upstream connection threw (errno, parser code) to an EdgeError. */
export function classifyUpstream(err: unknown): EdgeError {
  if (err instanceof EdgeError) return err;
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string') {
    if (CONNECT_ERRNOS.has(code)) return new EdgeError('EDGE_ERR_UPSTREAM_CONNECT', `upstream connect failed: ${message}`, err);
    if (code === 'HPE_INVALID_TRANSFER_ENCODING') return new EdgeError('EDGE_ERR_UPSTREAM_CODING', message, err);
    if (code.startsWith('HPE_') && code !== 'HPE_INCOMPLETE') return new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', `upstream sent an invalid response: ${message}`, err);
  }
  return new EdgeError('EDGE_ERR_UPSTREAM_RESET', `upstream failed: ${message}`, err);
}

/**
 * A reused keep-alive connection the upstream closed just before our request arrived: the
 * request never reached it (RFC 9112 §9.3.1), so an idempotent one may be sent again.
 */
export function isStaleConnection(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === 'ECONNRESET' || code === 'EPIPE' || code === 'HPE_INCOMPLETE';
}
