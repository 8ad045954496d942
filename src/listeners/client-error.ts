import type { Duplex } from 'node:stream';
import { EdgeError, statusOf, type EdgeErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { respondRaw } from '../http/respond.js';

/** Node's HTTP parser errors → the refusal Gatehouse answers with (Node's own replies lack HSTS). */
const PARSER_REFUSALS: Readonly<Record<string, { readonly code: EdgeErrorCode; readonly reason: string }>> = {
  HPE_HEADER_OVERFLOW: { code: 'EDGE_ERR_HEADERS_TOO_LARGE', reason: 'request headers too large' },
  ERR_HTTP_REQUEST_TIMEOUT: { code: 'EDGE_ERR_REQUEST_TIMEOUT', reason: 'request timeout' },
  HPE_CHUNK_EXTENSIONS_OVERFLOW: { code: 'EDGE_ERR_BODY_TOO_LARGE', reason: 'chunk extensions too large' },
  // "chunked, identity", "chunked" twice, a coding after chunked: every coding but a lone chunked is 501 (README "What it does, and why": Hostile clients).
  HPE_INVALID_TRANSFER_ENCODING: { code: 'EDGE_ERR_NOT_IMPLEMENTED', reason: 'only "Transfer-Encoding: chunked" is supported' },
};
const MALFORMED = { code: 'EDGE_ERR_BAD_REQUEST', reason: 'bad request' } as const;

/**
 * llhttp reports Content-Length beside Transfer-Encoding under the coding's code too; that one
 * is ambiguous framing (RFC 9112 §6.3), a 400 as nginx answers it, not an unsupported coding.
 */
function parserRefusal(err: NodeJS.ErrnoException & { reason?: string }): { readonly code: EdgeErrorCode; readonly reason: string } {
  const found = PARSER_REFUSALS[err.code ?? ''] ?? MALFORMED;
  return found.code === 'EDGE_ERR_NOT_IMPLEMENTED' && /content-length/i.test(err.reason ?? err.message) ? MALFORMED : found;
}

/**
 * An http.Server 'clientError' (parser error, head timeout) on :443 or :80: the refusal written
 * raw with HSTS when on HTTPS (`hsts` non-null), and one log line with its EDGE_ERR_ code. A
 * reset, an unwritable socket or an answer already under way only close.
 */
export function answerClientError(err: NodeJS.ErrnoException, socket: Duplex, hsts: string | null, log: Logger, listener: string): void {
  const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
  if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy();
    return;
  }
  const refusal = parserRefusal(err);
  const status = statusOf(refusal.code);
  respondRaw(socket, new EdgeError(refusal.code, refusal.reason, err), hsts, refusal.reason);
  log.info({ event: 'client-error', listener, code: refusal.code, cause: err.code, status }, 'malformed request');
}
