/**
 * Stable error codes. Tests assert `err.code`, never message text, and the one mapping below
 * is the only place that decides which HTTP status a failure becomes (cf. Caddy's statusError).
 */
export const ERROR_STATUS = {
  EDGE_ERR_CONFIG: 0,
  EDGE_ERR_CERT: 0,
  EDGE_ERR_LISTEN: 0,
  EDGE_ERR_BAD_REQUEST: 400,
  EDGE_ERR_FORBIDDEN_ORIGIN: 403,
  EDGE_ERR_NO_ROUTE: 404,
  EDGE_ERR_REQUEST_TIMEOUT: 408,
  EDGE_ERR_BODY_TOO_LARGE: 413,
  EDGE_ERR_EXPECTATION_FAILED: 417,
  EDGE_ERR_MISDIRECTED: 421,
  EDGE_ERR_UPGRADE_REQUIRED: 426,
  EDGE_ERR_HEADERS_TOO_LARGE: 431,
  EDGE_ERR_NOT_IMPLEMENTED: 501,
  EDGE_ERR_UPSTREAM_CONNECT: 502,
  EDGE_ERR_UPSTREAM_RESET: 502,
  EDGE_ERR_UPSTREAM_PROTOCOL: 502,
  EDGE_ERR_NO_HEALTHY_TARGET: 502,
  EDGE_ERR_SHUTTING_DOWN: 503,
  EDGE_ERR_UPSTREAM_TIMEOUT: 504,
} as const;

export type EdgeErrorCode = keyof typeof ERROR_STATUS;

export class EdgeError extends Error {
  readonly code: EdgeErrorCode;
  override readonly cause: unknown;

  constructor(code: EdgeErrorCode, message: string, cause?: unknown) {
    super(message);
    this.name = 'EdgeError';
    this.code = code;
    this.cause = cause;
  }

  /** The HTTP status this failure is answered with (0 for errors that never reach a client). */
  get status(): number {
    return ERROR_STATUS[this.code];
  }
}

export const REASONS: Readonly<Record<number, string>> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 408: 'Request Timeout', 413: 'Content Too Large', 417: 'Expectation Failed',
  421: 'Misdirected Request', 426: 'Upgrade Required', 431: 'Request Header Fields Too Large',
  501: 'Not Implemented', 502: 'Bad Gateway', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

const CONNECT_CODES = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN', 'EEDGE_CONNECT_TIMEOUT']);

/** True when the error happened before the upstream could have seen a byte: safe to try another target. */
export function isConnectFailure(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && CONNECT_CODES.has(code);
}
