/**
 * Reading an upstream response head (RFC 9112 §4, §5) in one pass over its latin1 text: the
 * status line and every field line are checked char by char as they are cut out, and only the
 * strings the caller keeps (reason, names, values) are made. The strictness is exactly that of
 * the grammar in message-syntax.ts (the request-smuggling defence): a CR is allowed only before
 * an LF, obs-fold and bad tokens or values throw, Content-Length lists must agree. Connection and
 * Transfer-Encoding are recognised by length and a case-folded compare, without lower-casing
 * every name.
 */

import { ParseError, contentLength, tokensOf } from './message-syntax.js';

const HTAB = 0x09;
const LF = 0x0a;
const CR = 0x0d;
const SP = 0x20;
const COLON = 0x3a;
const ZERO = 0x30;
const NINE = 0x39;

// tchar (RFC 9110 §5.6.2) per char code below 128, as '1'/'0': a string, so nothing can change it.
const TCHAR = Array.from({ length: 128 }, (_, c) => (/[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(String.fromCharCode(c)) ? '1' : '0')).join('');

function isTchar(c: number): boolean {
  return c < 128 && TCHAR.charCodeAt(c) === 0x31;
}

/** A field-value byte that must not be there: controls other than HTAB, and DEL (RFC 9110 §5.5). */
function isBadValueByte(c: number): boolean {
  return c < SP ? c !== HTAB : c === 0x7f;
}

/**
 * `name` (all tchar) equals `lower` ignoring ASCII case. `| 0x20` folds exactly A-Z onto a-z
 * among tchars, and no other tchar folds onto a letter or '-', so this is `toLowerCase() ===`.
 */
function isName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Digits only, 1 to 15 of them (exact in a double): the Content-Length value most heads carry, or -1. */
function plainLength(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < ZERO || c > NINE) return -1;
  }
  return Number(value);
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

  /** Read `text`, a whole head ending in its blank line (the caller found it); throws ParseError. */
  read(text: string): void {
    // Every scan below stops at an LF: one at the end keeps each of them inside the text.
    if (text.charCodeAt(text.length - 1) !== LF) throw new Error('a response head is read whole, up to its blank line');
    const end = this.#statusLine(text);
    this.#fields(text, end + 1);
  }

  /** `HTTP/1.x SP 3DIGIT [SP reason]` up to its LF (a CR before it is optional, RFC 9112 §2.2); returns the LF's index. */
  #statusLine(text: string): number {
    const lf = text.indexOf('\n');
    const end = text.charCodeAt(lf - 1) === CR ? lf - 1 : lf;
    const minor = text.charCodeAt(7) - ZERO;
    const d1 = text.charCodeAt(9);
    const d2 = text.charCodeAt(10);
    const d3 = text.charCodeAt(11);
    if (end < 12 || !text.startsWith('HTTP/1.') || (minor !== 0 && minor !== 1) || text.charCodeAt(8) !== SP
      || d1 <= ZERO || d1 > NINE || d2 < ZERO || d2 > NINE || d3 < ZERO || d3 > NINE
      || (end > 12 && text.charCodeAt(12) !== SP)) {
      throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid status line');
    }
    let bad = false;
    for (let i = 13; i < end; i++) {
      const c = text.charCodeAt(i);
      if (c === CR) throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid status line');
      if (isBadValueByte(c)) bad = true;
    }
    if (bad) throw new ParseError('HPE_INVALID_STATUS', 'upstream sent an invalid reason phrase');
    this.minor = minor;
    this.status = (d1 - ZERO) * 100 + (d2 - ZERO) * 10 + (d3 - ZERO);
    this.reason = end > 13 ? text.slice(13, end) : '';
    return lf;
  }

  /** Field lines from `pos` up to the blank line (RFC 9112 §5): `token ":" OWS value OWS`. */
  #fields(text: string, from: number): void {
    const headers: string[] = [];
    let length = -1;
    let transferEncoding: string | undefined;
    let connection = '';
    let pos = from;
    for (;;) {
      let c = text.charCodeAt(pos);
      if (c === LF || (c === CR && text.charCodeAt(pos + 1) === LF)) break; // the blank line
      if (c === SP || c === HTAB) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream used obsolete header line folding');
      const start = pos;
      while (isTchar(c)) c = text.charCodeAt(++pos);
      // The first non-tchar must be the colon, with a name before it.
      if (c !== COLON || pos === start) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream sent an invalid header name');
      const name = text.slice(start, pos);
      c = text.charCodeAt(++pos);
      while (c === SP || c === HTAB) c = text.charCodeAt(++pos);
      const valueStart = pos;
      let valueEnd = pos; // just past the last byte that is not OWS
      while (c !== LF) {
        if (isBadValueByte(c)) {
          if (c !== CR || text.charCodeAt(pos + 1) !== LF) throw new ParseError('HPE_INVALID_HEADER_TOKEN', `upstream sent an invalid value for ${name}`);
        } else if (c !== SP && c !== HTAB) {
          valueEnd = pos + 1;
        }
        c = text.charCodeAt(++pos);
      }
      pos++;
      const value = text.slice(valueStart, valueEnd);
      if (isName(name, 'content-length')) {
        const seen = length !== -1;
        const plain = seen ? -1 : plainLength(value);
        length = plain !== -1 ? plain : contentLength(value, length);
        // "5, 5", or a second identical line, is passed on as the one length it means.
        if (seen) continue;
        if (plain === -1 && value.includes(',')) {
          headers.push(name, String(length));
          continue;
        }
      } else if (isName(name, 'transfer-encoding')) {
        transferEncoding = transferEncoding === undefined ? value : `${transferEncoding}, ${value}`;
      } else if (isName(name, 'connection')) {
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
