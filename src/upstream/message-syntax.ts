/**
 * The grammar pieces of an HTTP/1.x message head (RFC 9112 §5, RFC 9110 §5.6, §8.6) that the
 * upstream response parser is built from: field lines, Connection tokens, Content-Length lists
 * and where a head ends. Stateless and strict: whatever is ambiguous throws a ParseError with
 * llhttp's error code, so both parsers can be compared case by case.
 */

export class ParseError extends Error {
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = 'ParseError';
    this.code = code;
  }
}

/** A token (RFC 9110 §5.6.2): one or more tchars. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// Field values: visible ASCII, obs-text, SP and HTAB; never CR, LF, NUL or other controls.
// eslint-disable-next-line no-control-regex -- matching control characters is the point
export const BAD_VALUE = /[\0-\x08\x0a-\x1f\x7f]/;
/** The line feed every head line ends with (a CR before it is optional, RFC 9112 §2.2). */
export const LF = 0x0a;

/** One field line (no CRLF) as [name, value]: no obs-fold, a token name, a clean value (RFC 9112 §5). */
export function field(line: string): [string, string] {
  const first = line.charCodeAt(0);
  if (first === 0x20 || first === 0x09) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream used obsolete header line folding');
  const colon = line.indexOf(':');
  const name = colon > 0 ? line.slice(0, colon) : '';
  if (!TOKEN.test(name)) throw new ParseError('HPE_INVALID_HEADER_TOKEN', 'upstream sent an invalid header name');
  const value = trimOws(line.slice(colon + 1));
  if (BAD_VALUE.test(value)) throw new ParseError('HPE_INVALID_HEADER_TOKEN', `upstream sent an invalid value for ${name}`);
  return [name, value];
}

/** A Connection header's names, lower-cased (hop-by-hop for this message). */
export function tokensOf(connection: string): string[] {
  if (connection === '') return [];
  const lower = connection.toLowerCase();
  if (!lower.includes(',')) {
    const token = trimOws(lower); // one name, the common `Connection: keep-alive`: no list to build
    return token === '' ? [] : [token];
  }
  return lower.split(',').map(trimOws).filter((t) => t !== '');
}

/** Index just past the blank line ending a head (CRLF CRLF, or bare LF LF), or -1. */
export function headEnd(buffer: Buffer, from: number): number {
  let i = buffer.indexOf(LF, from);
  while (i !== -1) {
    const next = buffer[i + 1];
    if (next === LF) return i + 2;
    if (next === 0x0d && buffer[i + 2] === LF) return i + 3;
    if (next === undefined || (next === 0x0d && i + 2 >= buffer.length)) return -1;
    i = buffer.indexOf(LF, i + 1);
  }
  return -1;
}

/**
 * Strip optional whitespace (SP and HTAB only, RFC 9110 §5.6.3). Not String.trim(): the text is
 * latin1, where byte 0xA0 — the tail of a UTF-8 "à", say — reads as a no-break space.
 */
export function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text.charCodeAt(start) === 0x20 || text.charCodeAt(start) === 0x09)) start++;
  while (end > start && (text.charCodeAt(end - 1) === 0x20 || text.charCodeAt(end - 1) === 0x09)) end--;
  return start === 0 && end === text.length ? text : text.slice(start, end);
}

/** Digits without their leading zeros ("0" stays "0"). */
export function significant(digits: string | undefined): string | undefined {
  if (digits === undefined) return undefined;
  let start = 0;
  while (start < digits.length - 1 && digits.charCodeAt(start) === 0x30) start++;
  return digits.slice(start);
}

export function contentLength(value: string, previous: number): number {
  // The value almost every head carries, 1 to 15 plain digits: no list, no regex.
  const plain = plainDigits(value);
  if (plain !== -1) {
    if (previous !== -1 && previous !== plain) throw new ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'upstream sent conflicting Content-Length values');
    return plain;
  }
  // "5, 5" (a list of identical values) is one length (RFC 9110 §8.6); anything else is ambiguous.
  let length = previous;
  for (const part of value.split(',')) {
    const text = significant(/^\d+$/.exec(trimOws(part))?.[0]);
    // 15 digits stay below 2^53, exact in a double; leading zeros do not count (as llhttp).
    if (text === undefined || text.length > 15) throw new ParseError('HPE_INVALID_CONTENT_LENGTH', 'upstream sent an invalid Content-Length');
    const n = Number(text);
    if (length !== -1 && length !== n) throw new ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'upstream sent conflicting Content-Length values');
    length = n;
  }
  return length;
}

/** Digits only, 1 to 15 of them (exact in a double; leading zeros count for nothing, as llhttp): their number, else -1. */
function plainDigits(value: string): number {
  if (value.length === 0 || value.length > 15) return -1;
  // The number is made as the digits are checked: no second pass through Number() and its string-to-number conversion.
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x30 || c > 0x39) return -1;
    n = n * 10 + (c - 0x30);
  }
  return n;
}
