// The upstream responses the differential test feeds to llhttp and to Gatehouse: valid ones and
// the malformed kinds the request-smuggling literature lists (RFC 9112 §6.3, §7.1, §11.2;
// "HTTP Desync Attacks", PortSwigger 2019; "HTTP Request Smuggling in 2020", Kettle; the
// llhttp and nginx test suites' categories).
import { REJECT, type Outcome } from './differential.js';

export interface Case {
  readonly name: string;
  /** The exact bytes the upstream writes before closing (latin1). */
  readonly bytes: string;
  /** The request's method (HEAD: no body may follow). */
  readonly method?: 'HEAD';
  /**
   * Gatehouse differs from llhttp on purpose: why, and what Gatehouse does instead.
   * `llhttpAgreesFrom`: the llhttp version (process.versions.llhttp) from which llhttp itself
   * frames it as Gatehouse does, so the difference exists only on older Node lines.
   */
  readonly deliberate?: { readonly reason: string; readonly gatehouse: Outcome; readonly llhttpAgreesFrom?: string };
}

/** A second response right behind the first: where it starts is where the first one ended. */
export const NEXT = 'HTTP/1.1 299 Next\r\nContent-Length: 0\r\n\r\n';
/** DESIGN 14 (issue 10 item 7): `chunked` alone is the only transfer coding relayed; else 502. */
const CODING = { reason: 'a transfer coding other than chunked alone is a 502 (DESIGN 14)', gatehouse: REJECT };
const ok = (status: number, body: string): Outcome => ({ accept: true, status, body, after: 'clean' });
const h = (head: string, body = ''): string => `${head.replaceAll('|', '\r\n')}\r\n\r\n${body}`;

export const CASES: readonly Case[] = [
  // Valid framing.
  { name: 'Content-Length', bytes: h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') },
  { name: 'Content-Length 0', bytes: h('HTTP/1.1 200 OK|Content-Length: 0') },
  { name: 'Content-Length with leading zeros', bytes: h('HTTP/1.1 200 OK|Content-Length: 005', 'hello') },
  { name: 'Content-Length with 16 digits that are a small length', bytes: h('HTTP/1.1 200 OK|Content-Length: 0000000000000005', 'hello') },
  { name: 'Content-Length with OWS around it', bytes: h('HTTP/1.1 200 OK|Content-Length: \t5 ', 'hello') },
  { name: 'Content-Length shorter than the bytes that follow', bytes: h('HTTP/1.1 200 OK|Content-Length: 2', 'hello') },
  { name: 'Content-Length longer than the bytes before close', bytes: h('HTTP/1.1 200 OK|Content-Length: 9', 'hello') },
  { name: 'chunked', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunked, several chunks, upper and lower hex', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', 'A\r\n0123456789\r\nb\r\nabcdefghijk\r\n0\r\n\r\n') },
  { name: 'chunked, size with leading zeros', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '0005\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunked, 16 hex digits that are a small size', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '0000000000000005\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunked, last chunk 000', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n000\r\n\r\n') },
  { name: 'chunked, never finished before close', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n') },
  { name: 'read until close', bytes: h('HTTP/1.1 200 OK|X-A: b', 'until the end') },
  { name: 'read until close, empty', bytes: h('HTTP/1.1 200 OK') },
  { name: 'HTTP/1.0 with Content-Length', bytes: h('HTTP/1.0 200 OK|Content-Length: 5', 'hello') },
  { name: 'HTTP/1.0 read until close', bytes: h('HTTP/1.0 200 OK', 'hello') },
  { name: 'HTTP/1.0 keep-alive with Content-Length', bytes: h('HTTP/1.0 200 OK|Connection: keep-alive|Content-Length: 5', 'hello') },
  { name: 'header value with obs-text bytes', bytes: h('HTTP/1.1 200 OK|X-A: caf\xe9 \xff\x80|Content-Length: 1', 'x') },
  { name: 'empty header value', bytes: h('HTTP/1.1 200 OK|X-A:|Content-Length: 1', 'x') },
  { name: 'header value with HTAB inside', bytes: h('HTTP/1.1 200 OK|X-A: a\tb|Content-Length: 1', 'x') },

  // Status line.
  { name: 'missing reason phrase, no space', bytes: h('HTTP/1.1 200|Content-Length: 1', 'x') },
  { name: 'missing reason phrase, with space', bytes: h('HTTP/1.1 200 |Content-Length: 1', 'x') },
  { name: 'reason phrase with obs-text', bytes: h('HTTP/1.1 200 \xc7a va|Content-Length: 1', 'x') },
  { name: 'two-digit status', bytes: h('HTTP/1.1 20 OK|Content-Length: 1', 'x') },
  { name: 'four-digit status', bytes: h('HTTP/1.1 2000 OK|Content-Length: 1', 'x') },
  { name: 'status 099', bytes: h('HTTP/1.1 099 OK|Content-Length: 1', 'x'), deliberate: { reason: 'a status below 100 has no class (RFC 9110 §15); 600-999 pass, as in llhttp', gatehouse: REJECT } },
  { name: 'status 600', bytes: h('HTTP/1.1 600 Odd|Content-Length: 1', 'x') },
  { name: 'status 999', bytes: h('HTTP/1.1 999 Odd|Content-Length: 1', 'x') },
  { name: 'status not digits', bytes: h('HTTP/1.1 2x0 OK|Content-Length: 1', 'x') },
  { name: 'two spaces before the status', bytes: h('HTTP/1.1  200 OK|Content-Length: 1', 'x') },
  { name: 'HTAB instead of space after the version', bytes: h('HTTP/1.1\t200 OK|Content-Length: 1', 'x') },
  { name: 'HTTP/2.0 status line', bytes: h('HTTP/2.0 200 OK|Content-Length: 1', 'x'), deliberate: { reason: 'this connection speaks HTTP/1.x (RFC 9112 §2.3); another major version is not HTTP/1.1 framing', gatehouse: REJECT } },
  { name: 'HTTP/1.2 status line', bytes: h('HTTP/1.2 200 OK|Content-Length: 1', 'x') },
  { name: 'lower-case http/1.1', bytes: h('http/1.1 200 OK|Content-Length: 1', 'x') },
  { name: 'HTTP/0.9-style body without a head', bytes: 'hello world\r\n' },
  { name: 'empty line before the status line', bytes: `\r\n${h('HTTP/1.1 200 OK|Content-Length: 1', 'x')}`, deliberate: { reason: 'the empty-line allowance of RFC 9112 §2.2 is for servers reading requests; before a response it means the previous one was misframed', gatehouse: REJECT } },
  { name: 'NUL in the reason phrase', bytes: h('HTTP/1.1 200 O\0K|Content-Length: 1', 'x'), deliberate: { reason: 'reason-phrase is HTAB, SP, VCHAR and obs-text only (RFC 9112 §4); Node would refuse to relay it anyway', gatehouse: REJECT } },

  // Content-Length ambiguity.
  { name: 'CL and TE together', bytes: h('HTTP/1.1 200 OK|Content-Length: 3|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') },
  { name: 'TE and CL together (TE first)', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked|Content-Length: 3', '5\r\nhello\r\n0\r\n\r\n') },
  { name: 'duplicate Content-Length, same value', bytes: h('HTTP/1.1 200 OK|Content-Length: 5|Content-Length: 5', 'hello'), deliberate: { reason: 'identical values are one length (RFC 9110 §8.6 allows it) and go on as one header', gatehouse: ok(200, 'hello') } },
  { name: 'duplicate Content-Length, different values', bytes: h('HTTP/1.1 200 OK|Content-Length: 5|Content-Length: 2', 'hello') },
  { name: 'list Content-Length "5, 5"', bytes: h('HTTP/1.1 200 OK|Content-Length: 5, 5', 'hello'), deliberate: { reason: 'a list of identical values is one length (RFC 9110 §8.6) and goes on as one header', gatehouse: ok(200, 'hello') } },
  { name: 'list Content-Length "5, 2"', bytes: h('HTTP/1.1 200 OK|Content-Length: 5, 2', 'hello') },
  { name: 'negative Content-Length', bytes: h('HTTP/1.1 200 OK|Content-Length: -1', 'hello') },
  { name: 'plus-signed Content-Length', bytes: h('HTTP/1.1 200 OK|Content-Length: +5', 'hello') },
  { name: 'hex Content-Length', bytes: h('HTTP/1.1 200 OK|Content-Length: 0x5', 'hello') },
  { name: 'huge Content-Length (overflows 64 bits)', bytes: h('HTTP/1.1 200 OK|Content-Length: 99999999999999999999', 'hello') },
  { name: 'empty Content-Length', bytes: h('HTTP/1.1 200 OK|Content-Length:', 'hello') },
  { name: 'Content-Length with a space inside', bytes: h('HTTP/1.1 200 OK|Content-Length: 1 2', 'hello') },

  // Header syntax.
  { name: 'obs-fold continuation line', bytes: h('HTTP/1.1 200 OK|X-A: one|  two|Content-Length: 1', 'x') },
  { name: 'obs-fold right after the status line', bytes: h('HTTP/1.1 200 OK| X-A: one|Content-Length: 1', 'x') },
  { name: 'bare LF line endings', bytes: 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello', deliberate: { reason: 'a bare LF ends a head line (RFC 9112 §2.2 MAY); the head is re-serialised with CRLF for the client', gatehouse: ok(200, 'hello') } },
  { name: 'bare LF ending one header line', bytes: 'HTTP/1.1 200 OK\r\nX-A: b\nContent-Length: 5\r\n\r\nhello', deliberate: { reason: 'a bare LF ends a head line (RFC 9112 §2.2 MAY)', gatehouse: ok(200, 'hello') } },
  { name: 'bare CR as line ending', bytes: 'HTTP/1.1 200 OK\rContent-Length: 5\r\r\n\r\nhello' },
  { name: 'bare CR inside a header value', bytes: h('HTTP/1.1 200 OK|X-A: b\rc|Content-Length: 5', 'hello') },
  { name: 'NUL inside a header value', bytes: h('HTTP/1.1 200 OK|X-A: b\0c|Content-Length: 5', 'hello') },
  { name: 'other control byte inside a header value', bytes: h('HTTP/1.1 200 OK|X-A: b\x01c|Content-Length: 5', 'hello') },
  { name: 'DEL inside a header value', bytes: h('HTTP/1.1 200 OK|X-A: b\x7fc|Content-Length: 5', 'hello') },
  { name: 'space before the colon', bytes: h('HTTP/1.1 200 OK|Content-Length : 2', 'hello') },
  { name: 'space before the colon of another header', bytes: h('HTTP/1.1 200 OK|X-A : b|Content-Length: 5', 'hello') },
  { name: 'space inside a header name', bytes: h('HTTP/1.1 200 OK|X A: b|Content-Length: 5', 'hello') },
  { name: 'HTAB inside a header name', bytes: h('HTTP/1.1 200 OK|X\tA: b|Content-Length: 5', 'hello') },
  { name: 'header line without a colon', bytes: h('HTTP/1.1 200 OK|X-A b|Content-Length: 5', 'hello') },
  { name: 'empty header name', bytes: h('HTTP/1.1 200 OK|: b|Content-Length: 5', 'hello') },
  { name: 'non-token byte in a header name', bytes: h('HTTP/1.1 200 OK|X(A): b|Content-Length: 5', 'hello') },

  // Transfer codings.
  { name: 'TE folded onto a second line', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: gzip,| chunked', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE with a tab before the colon', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding\t: chunked', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE chunked with CL 0', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked|Content-Length: 0', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE gzip, chunked', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: gzip, chunked', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE chunked, gzip', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked, gzip', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE chunked, chunked', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked, chunked', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE identity', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: identity', 'hello'), deliberate: CODING },
  { name: 'TE gzip alone', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: gzip', 'hello'), deliberate: CODING },
  { name: 'TE in two lines, gzip then chunked', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: gzip|Transfer-Encoding: chunked', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE in two lines, chunked then gzip', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked|Transfer-Encoding: gzip', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE CHUNKED upper case', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: CHUNKED', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE Chunked mixed case', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: Chunked', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE name in mixed case', bytes: h('HTTP/1.1 200 OK|TRANSFER-encoding: chunked', '2\r\nzz\r\n0\r\n\r\n') },
  { name: 'TE xchunked', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: xchunked', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  { name: 'TE chunked with a trailing comma', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked,', '2\r\nzz\r\n0\r\n\r\n'), deliberate: CODING },
  // llhttp 9.3 (Node 20) reads an empty Transfer-Encoding as no coding; 9.4 (Node 22.x+) refuses it.
  { name: 'TE empty', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding:', 'hello'), deliberate: { ...CODING, llhttpAgreesFrom: '9.4.0' } },
  { name: 'TE on HTTP/1.0', bytes: h('HTTP/1.0 200 OK|Transfer-Encoding: chunked', '2\r\nzz\r\n0\r\n\r\n') },

  // Chunk sizes.
  { name: 'chunk size with 17 hex digits (overflow)', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '10000000000000005\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size FFFFFFFFFFFFFFFF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', 'FFFFFFFFFFFFFFFF\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with 0x prefix', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '0x5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with leading spaces', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '  5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with trailing spaces', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5  \r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with leading junk', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', 'x5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size with trailing junk', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5x\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size plus-signed', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '+5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size negative', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '-5\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size empty', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk size line ended by bare LF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\nhello\r\n0\r\n\r\n') },
  { name: 'chunk data longer than its size', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '3\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk data not followed by CRLF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello0\r\n\r\n') },
  { name: 'chunk data followed by bare LF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\n0\r\n\r\n') },

  // Chunk extensions.
  { name: 'chunk extension name=value', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;name=value\r\nhello\r\n0;last\r\n\r\n') },
  { name: 'chunk extension with a quoted string', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;name="a; b \\" c"\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extensions with BWS', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5 ; a = b\r\nhello\r\n0\r\n\r\n'), deliberate: { reason: 'the chunk-ext grammar has BWS around ; and = (RFC 9112 §7.1.1)', gatehouse: ok(200, 'hello') } },
  { name: 'chunk extension without a name', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension with a bare CR', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;a=b\rc\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension ended by bare LF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;a=b\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension with a NUL', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;a=\0\r\nhello\r\n0\r\n\r\n') },
  { name: 'chunk extension with an unterminated quoted string', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;a="b\r\nhello\r\n0\r\n\r\n') },

  // Trailers.
  { name: 'trailer field', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked|Trailer: X-T', '5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n') },
  { name: 'two trailer fields', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: 1\r\nX-U: 2\r\n\r\n') },
  { name: 'trailer without a colon', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nnot a field\r\n\r\n') },
  { name: 'trailer with a space before the colon', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T : 1\r\n\r\n') },
  { name: 'trailer with a NUL in its value', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: a\0b\r\n\r\n') },
  { name: 'trailer with obs-fold', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: a\r\n b\r\n\r\n') },
  { name: 'trailer section never ended before close', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: 1\r\n') },
  { name: 'trailers ended by bare LF', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: 1\n\n') },

  // Interim responses.
  { name: '100 then 200', bytes: h('HTTP/1.1 100 Continue') + h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') },
  { name: '103 with Link then 200', bytes: h('HTTP/1.1 103 Early Hints|Link: </a.css>; rel=preload') + h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') },
  { name: '100, 103, 102 then 200', bytes: h('HTTP/1.1 100 Continue') + h('HTTP/1.1 103 Early Hints') + h('HTTP/1.1 102 Processing') + h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') },
  { name: '1xx only, then close', bytes: h('HTTP/1.1 100 Continue') },

  // Bodies where none may be.
  { name: '101 to a plain request', bytes: h('HTTP/1.1 101 Switching Protocols|Connection: Upgrade|Upgrade: websocket', 'frames') },
  { name: '100 with a Content-Length, then 200', bytes: h('HTTP/1.1 100 Continue|Content-Length: 5') + h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') },
  { name: 'HEAD with Content-Length and no body', method: 'HEAD', bytes: h('HTTP/1.1 200 OK|Content-Length: 5') },
  { name: 'HEAD answered with a body anyway', method: 'HEAD', bytes: h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') },
  { name: 'HEAD answered chunked with no body', method: 'HEAD', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked') },
  { name: '204 with Content-Length and a body', bytes: h('HTTP/1.1 204 No Content|Content-Length: 5', 'hello') },
  { name: '204 with no body', bytes: h('HTTP/1.1 204 No Content') },
  { name: '204 chunked with a body', bytes: h('HTTP/1.1 204 No Content|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') },
  { name: '304 with Content-Length and no body', bytes: h('HTTP/1.1 304 Not Modified|Content-Length: 5') },
  { name: '304 with a body anyway', bytes: h('HTTP/1.1 304 Not Modified|Content-Length: 5', 'hello') },

  // Responses back to back: the second must start exactly where the first ends.
  { name: 'Content-Length, then the next response', bytes: h('HTTP/1.1 200 OK|Content-Length: 5', 'hello') + NEXT },
  { name: 'chunked, then the next response', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') + NEXT },
  { name: 'chunked with trailers, then the next response', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n') + NEXT },
  { name: 'chunked with extensions, then the next response', bytes: h('HTTP/1.1 200 OK|Transfer-Encoding: chunked', '5;a="b;c"\r\nhello\r\n0;z\r\n\r\n') + NEXT },
  { name: '204, then the next response', bytes: h('HTTP/1.1 204 No Content') + NEXT },
  { name: '304 with Content-Length, then the next response', bytes: h('HTTP/1.1 304 Not Modified|Content-Length: 5') + NEXT },
  { name: 'HEAD with Content-Length, then the next response', method: 'HEAD', bytes: h('HTTP/1.1 200 OK|Content-Length: 5') + NEXT },
  { name: 'Content-Length 0, then the next response', bytes: h('HTTP/1.1 200 OK|Content-Length: 0') + NEXT },
  { name: 'CL and TE together, then the next response', bytes: h('HTTP/1.1 200 OK|Content-Length: 3|Transfer-Encoding: chunked', '5\r\nhello\r\n0\r\n\r\n') + NEXT },
  { name: 'bare LF head, then the next response', bytes: 'HTTP/1.1 200 OK\nContent-Length: 5\n\nhello' + NEXT, deliberate: { reason: 'a bare LF ends a head line (RFC 9112 §2.2 MAY)', gatehouse: ok(200, 'hello') } },
  { name: 'bare LF chunked, then the next response', bytes: 'HTTP/1.1 200 OK\nTransfer-Encoding: chunked\n\n5\nhello\n0\n\n' + NEXT },
];
