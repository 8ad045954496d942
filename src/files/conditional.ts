import type { IncomingHttpHeaders } from 'node:http';

/** What a file answer's validators are: a strong ETag and Last-Modified (RFC 9110 §8.8). */
export interface Validators {
  readonly etag: string;
  readonly lastModified: string;
  /** Last-Modified in whole seconds since the epoch (HTTP dates have no finer resolution). */
  readonly mtimeSeconds: number;
}

/** nginx's form ("mtime-size" in hex): equal for equal files, changes with either. */
export function validatorsOf(size: number, mtimeMs: number): Validators {
  const mtimeSeconds = Math.floor(mtimeMs / 1000);
  return {
    etag: `"${Math.floor(mtimeMs).toString(16)}-${size.toString(16)}"`,
    lastModified: new Date(mtimeSeconds * 1000).toUTCString(),
    mtimeSeconds,
  };
}

export type Precondition = 'proceed' | 'not-modified' | 'failed';

/**
 * RFC 9110 §13.2.2's order: If-Match, else If-Unmodified-Since; then If-None-Match, else
 * If-Modified-Since (the latter only for GET/HEAD, as every file request is).
 */
export function evaluatePreconditions(headers: IncomingHttpHeaders, v: Validators): Precondition {
  const ifMatch = headers['if-match'];
  if (ifMatch !== undefined) {
    if (!matchesAny(ifMatch, v.etag, false)) return 'failed';
  } else {
    const since = parseDate(headers['if-unmodified-since']);
    if (since !== undefined && v.mtimeSeconds > since) return 'failed';
  }
  const ifNoneMatch = headers['if-none-match'];
  if (ifNoneMatch !== undefined) {
    // §13.1.2: weak comparison; a match on GET/HEAD is 304.
    return matchesAny(ifNoneMatch, v.etag, true) ? 'not-modified' : 'proceed';
  }
  const modifiedSince = parseDate(headers['if-modified-since']);
  if (modifiedSince !== undefined && v.mtimeSeconds <= modifiedSince) return 'not-modified';
  return 'proceed';
}

/** "*" or a comma list of entity-tags; `weak` compares without the W/ prefix (RFC 9110 §8.8.3.2). */
function matchesAny(field: string, etag: string, weak: boolean): boolean {
  if (field.trim() === '*') return true;
  for (const part of field.split(',')) {
    let tag = part.trim();
    if (tag.startsWith('W/')) {
      if (!weak) continue; // a weak tag never matches strongly
      tag = tag.slice(2);
    }
    if (tag === etag) return true;
  }
  return false;
}

function parseDate(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : Math.floor(ms / 1000);
}

/** An inclusive byte range of a file of known size. */
export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * RFC 9110 §14.2: one `bytes=` range → that range (clipped to the file); unsatisfiable →
 * 'unsatisfiable' (416); anything else — no header, a unit other than bytes, a syntax error, or
 * several ranges (nginx also answers those whole, and multipart/byteranges is seldom wanted) —
 * undefined, which means "send the whole file with 200" (§14.2: a server may ignore Range).
 * `If-Range` (§13.1.5) must match the ETag strongly or equal Last-Modified, else the whole file.
 */
export function requestedRange(headers: IncomingHttpHeaders, size: number, v: Validators): ByteRange | 'unsatisfiable' | undefined {
  const range = headers.range;
  if (range === undefined) return undefined;
  const ifRange = headers['if-range'];
  if (ifRange !== undefined) {
    const value = String(ifRange).trim();
    if (value.startsWith('"') || value.startsWith('W/')) {
      if (value !== v.etag) return undefined;
    } else if (parseDate(value) !== v.mtimeSeconds) {
      return undefined;
    }
  }
  const m = /^bytes=[ \t]*(\d*)-(\d*)[ \t]*$/i.exec(range);
  if (m === null) return undefined;
  const [, first = '', last = ''] = m;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    // Suffix range: the last N bytes; "bytes=-0" asks for nothing.
    const n = Number(last);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(first);
  if (start >= size) return 'unsatisfiable';
  const end = last === '' ? size - 1 : Number(last);
  if (end < start) return undefined; // invalid: ignored (§14.1.1)
  return { start, end: Math.min(end, size - 1) };
}
