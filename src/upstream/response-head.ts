/**
 * Reading an upstream response head (RFC 9112 §4, §5) in one pass over its bytes: the status
 * line and every field line are checked byte by byte as they are cut out, and only the strings
 * the caller keeps (reason, names, values) are made, from one latin1 string of the head. No
 * split into lines, no regex per line, no lower-cased copy of every name. The strictness is
 * exactly that of the grammar in message-syntax.ts (`field`, TOKEN, BAD_VALUE: the
 * request-smuggling defence), checks and error codes in the same order: a CR only right before
 * an LF, no obs-fold, token names, clean values, Content-Length lists that agree.
 */

import { LF, ParseError, TOKEN, contentLength, tokensOf } from './message-syntax.js';

const HTAB = 0x09;
const CR = 0x0d;
const SP = 0x20;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;

/** The tchars (TOKEN's, RFC 9110 §5.6.2) among the 32 codes from `base`, one bit each: plain numbers, fixed at load. */
function tcharBits(base: number): number {
  let bits = 0;
  for (let c = 0; c < 32; c++) if (TOKEN.test(String.fromCharCode(base + c))) bits |= 1 << c;
  return bits;
}
const TCHAR_20 = tcharBits(0x20);
const TCHAR_40 = tcharBits(0x40);
const TCHAR_60 = tcharBits(0x60);

function isTchar(c: number): boolean {
  if (c >= 0x60) return c < 0x80 && ((TCHAR_60 >>> (c - 0x60)) & 1) === 1;
  if (c >= 0x40) return ((TCHAR_40 >>> (c - 0x40)) & 1) === 1;
  return c >= 0x20 && ((TCHAR_20 >>> (c - 0x20)) & 1) === 1;
}

/** A field-value byte that must not be there (BAD_VALUE's): controls other than HTAB, and DEL (RFC 9110 §5.5). */
function isBadValueByte(c: number): boolean {
  return c < SP ? c !== HTAB : c === 0x7f;
}

/**
 * The name in `b[start, end)` (all tchar) is `lower` in any ASCII case. `| 0x20` folds exactly
 * A-Z onto a-z among tchars, and no other tchar folds onto a letter or '-', so this is
 * `name.toLowerCase() === lower` without making the lower-cased string.
 */
function isName(b: Uint8Array, start: number, end: number, lower: string): boolean {
  if (end - start !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) if (((b[start + i] as number) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/**
 * One reader per parser, refilled by each `read()`: what the framing decision needs besides the
 * fields themselves, kept here so no object is made per head just to carry it.
 */
export class HeadReader {
  minor = 1;
  status = 0;
  reason = '';
  /** Flat [name, value, …] as received; a Content-Length list goes on as the one length it means. */
  headers: string[] = [];
  /** The Content-Length, or -1. */
  length = -1;
  /** Every Transfer-Encoding line joined with ", ", or undefined when there was none. */
  transferEncoding: string | undefined = undefined;
  connectionTokens: string[] = [];

  /**
   * Read the head in `bytes[0, end)`, which ends in its blank line (the caller found it); throws
   * ParseError. The checks run on the bytes (a typed-array load is cheaper than `charCodeAt`);
   * the strings kept are cut from one latin1 string of the head.
   */
  read(bytes: Uint8Array, end: number, text: string): void {
    // Every scan below stops at an LF: one at the end keeps each of them inside the head.
    if (bytes[end - 1] !== LF) throw new Error('a response head is read whole, up to its blank line');
    const lf = this.#statusLine(bytes, text);
    this.#fields(bytes, text, lf + 1);
  }

  /** `HTTP/1.x SP 3DIGIT [SP reason]` up to its LF (a CR before it is optional, RFC 9112 §2.2); returns the LF's index. */
  #statusLine(b: Uint8Array, text: string): number {
    const lf = b.indexOf(LF);
    const end = lf > 0 && b[lf - 1] === CR ? lf - 1 : lf;
    const minor = (b[7] as number) - ZERO;
    const d1 = b[9] as number;
    const d2 = b[10] as number;
    const d3 = b[11] as number;
    if (end < 12 || !text.startsWith('HTTP/1.') || (minor !== 0 && minor !== 1) || b[8] !== SP
      || d1 <= ZERO || d1 > NINE || d2 < ZERO || d2 > NINE || d3 < ZERO || d3 > NINE
      || (end > 12 && b[12] !== SP)) {
      throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid status line');
    }
    let bad = false;
    for (let i = 13; i < end; i++) {
      const c = b[i] as number;
      if (c === CR) throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid status line');
      if (isBadValueByte(c)) bad = true;
    }
    if (bad) throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid reason phrase');
    this.minor = minor;
    this.status = (d1 - ZERO) * 100 + (d2 - ZERO) * 10 + (d3 - ZERO);
    this.reason = end > 13 ? text.slice(13, end) : '';
    return lf;
  }

  /** Field lines from `from` up to the blank line (RFC 9112 §5): `token ":" OWS value OWS`. */
  #fields(b: Uint8Array, text: string, from: number): void {
    const headers: string[] = [];
    let length = -1;
    let transferEncoding: string | undefined;
    let connection = '';
    let pos = from;
    for (;;) {
      let c = b[pos] as number;
      if (c === LF || (c === CR && b[pos + 1] === LF)) break; // the blank line
      if (c === SP || c === HTAB) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream used obsolete header line folding');
      const start = pos;
      while (isTchar(c)) c = b[++pos] as number;
      // The first non-tchar must be the colon, with a name before it.
      if (c !== COLON || pos === start) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream sent an invalid header name');
      const colon = pos;
      const name = text.slice(start, colon);
      c = b[++pos] as number;
      while (c === SP || c === HTAB) c = b[++pos] as number;
      const valueStart = pos;
      let valueEnd = pos; // just past the last byte that is not OWS
      while (c !== LF) {
        if (c > SP && c !== 0x7f) {
          valueEnd = pos + 1; // visible ASCII or obs-text: the common byte, one test
        } else if (c !== SP && c !== HTAB && (c !== CR || b[pos + 1] !== LF)) {
          throw new ParseError('HPE_INVALID_HEADER_TOKEN', `upstream sent an invalid value for ${name}`);
        }
        c = b[++pos] as number;
      }
      pos++;
      const value = text.slice(valueStart, valueEnd);
      if (isName(b, start, colon, 'content-length')) {
        const seen = length !== -1;
        length = contentLength(value, length);
        // "5, 5", or a second identical line, is passed on as the one length it means.
        if (seen) continue;
        if (value.includes(',')) {
          headers.push(name, String(length));
          continue;
        }
      } else if (isName(b, start, colon, 'transfer-encoding')) {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (isName(b, start, colon, 'connection')) {
        connection = connection === '' ? value : `${connection}, ${value}`;
      }
      headers.push(name, value);
    }
    this.headers = headers;
    this.length = length;
    this.transferEncoding = transferEncoding;
    this.connectionTokens = tokensOf(connection);
  }
}
