import type { IncomingMessage } from 'node:http';
import { EdgeError } from '../errors.js';
import type { BodyFraming } from '../proxy/forward.js';

/** Why a request cannot be forwarded as framed, decided from its head alone: its message is the answer's body. */
export type FramingRefusal = EdgeError;

/**
 * Transfer-Encoding and Expect checks Node's parser leaves to the application. Only a single
 * `Transfer-Encoding: chunked` is forwarded: any other coding (`gzip, chunked`, `gzip`) is
 * 501 (RFC 9112 §6.1, as nginx answers), since re-framing it as plain chunked would hand the
 * upstream still-encoded bytes; Transfer-Encoding on HTTP/1.0 is faulty framing (RFC 9112 §6.1)
 * and so a 400; an Expect other than 100-continue is 417 (RFC 9110 §10.1.1).
 */
export function framingRefusal(req: IncomingMessage): FramingRefusal | undefined {
  // HTTP/1.0 predates Expect: such a client gets no 100 and no 417 (RFC 9110 §10.1.1).
  const expected = req.httpVersionMinor === 0 ? undefined : expectationRefusal(req.headers.expect);
  if (expected !== undefined) return expected;
  if (req.headers['transfer-encoding'] === undefined) return undefined;
  if (req.httpVersionMinor === 0) return new EdgeError('EDGE_ERR_BAD_REQUEST', 'Transfer-Encoding is not allowed in an HTTP/1.0 request');
  let codings = 0;
  let chunkedOnly = true;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length !== 17 || name.toLowerCase() !== 'transfer-encoding') continue;
    codings++;
    if ((raw[i + 1] as string).trim().toLowerCase() !== 'chunked') chunkedOnly = false;
  }
  return codings === 1 && chunkedOnly ? undefined : new EdgeError('EDGE_ERR_NOT_IMPLEMENTED', 'only "Transfer-Encoding: chunked" is supported');
}

/** RFC 9110 §10.1.1: an Expect other than 100-continue (case-insensitive) is 417, on h1 and h2 alike. */
export function expectationRefusal(expect: string | undefined): FramingRefusal | undefined {
  if (expect === undefined || expect.toLowerCase() === '100-continue') return undefined;
  return new EdgeError('EDGE_ERR_EXPECTATION_FAILED', 'only "Expect: 100-continue" is supported');
}

/** After framingRefusal and Node's parser (which refuses Content-Length beside Transfer-Encoding): one of three remains. */
export function bodyFraming(req: IncomingMessage): BodyFraming {
  if (req.headers['transfer-encoding'] !== undefined) return 'chunked';
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0' ? 'length' : 'none';
}
