import type { IncomingHttpHeaders } from 'node:http';
import { decide, varyWith, weakened, type Offer } from '../compress/policy.js';
import { rawHeader } from '../http/message.js';
import type { StoredAnswer } from '../proxy/forward.js';
import { ageOf, answerOf, type Entry } from './entry.js';

/** A client's own validators on a GET or HEAD, read before the cache puts its own in their place. */
export interface Conditions {
  readonly ifNoneMatch: string | undefined;
  readonly ifModifiedSince: string | undefined;
}

/**
 * The client's validators the cache may evaluate, or undefined when there are none. If-Match and
 * If-Unmodified-Since are the origin's (RFC 9111 §4.3.2) and come first in RFC 9110 §13.2.2: a
 * request carrying one is never answered 304 by the cache (it gets the stored answer as it is).
 * Requests without any conditional pay two property lookups.
 */
export function conditionsOf(headers: IncomingHttpHeaders): Conditions | undefined {
  const ifNoneMatch = headers['if-none-match'];
  const ifModifiedSince = headers['if-modified-since'];
  if (ifNoneMatch === undefined && ifModifiedSince === undefined) return undefined;
  if (headers['if-match'] !== undefined || headers['if-unmodified-since'] !== undefined) return undefined;
  return { ifNoneMatch, ifModifiedSince };
}

/**
 * RFC 9110 §13.2.2 steps 3–4 against a stored answer (the caller only asks for GET and HEAD):
 * If-None-Match when present, with the weak comparison (§13.1.2: W/"x" matches "x"), a list, or
 * `*`; otherwise If-Modified-Since, against Last-Modified, else the stored Date, else when it was
 * stored (RFC 9111 §4.3.2). True: the client's copy is current, a 304 answers.
 */
export function notModified(asked: Conditions, entry: Validated): boolean {
  if (asked.ifNoneMatch !== undefined) return noneMatchFails(asked.ifNoneMatch, entry.etag);
  const since = asked.ifModifiedSince;
  // §13.1.3: ignored unless one valid HTTP-date (its only comma follows the weekday).
  if (since === undefined || since.indexOf(',') !== since.lastIndexOf(',')) return false;
  const date = Date.parse(since);
  if (Number.isNaN(date)) return false;
  const stored = entry.lastModified ?? rawHeader(entry.headers, 'date');
  const modified = stored === undefined ? entry.storedAt : Date.parse(stored);
  return !Number.isNaN(modified) && modified <= date;
}

/** What a stored entry, or an answer about to be stored, is matched against and answered with as a 304. */
export type Validated = Pick<Entry, 'status' | 'headers' | 'etag' | 'lastModified' | 'storedAt' | 'initialAge'>;

/** If-None-Match evaluates false (a 304) when `*` or one of its entity-tags weakly matches the stored ETag. */
function noneMatchFails(field: string, etag: string | undefined): boolean {
  if (field.trim() === '*') return true;
  if (etag === undefined) return false;
  const opaque = etag.startsWith('W/') ? etag.slice(2) : etag;
  let i = 0;
  while (i < field.length) {
    const c = field[i];
    if (c === ' ' || c === '\t' || c === ',') {
      i++;
      continue;
    }
    if (field.startsWith('W/', i)) i += 2;
    // entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE (§8.8.3); anything else ends the list unmatched.
    if (field[i] !== '"') return false;
    const close = field.indexOf('"', i + 1);
    if (close === -1) return false;
    if (field.slice(i, close + 1) === opaque) return true;
    i = close + 1;
  }
  return false;
}

/** The fields a 304 carries (RFC 9110 §15.4.5); Last-Modified only where there is no ETag. */
const KEPT_ON_304 = new Set(['cache-control', 'content-location', 'date', 'etag', 'expires', 'vary']);

/**
 * The stored answer as a 304: its §15.4.5 fields, Age (RFC 9111 §5.1) and Cache-Status; no body,
 * no length. `length`: the Content-Length the 200 would have had, if known. `offer`: the route's compression
 * as this request allows it. A 304 is never encoded,
 * so the ETag and Vary the 200 would have had (weakened and joined by compress/policy.ts) are
 * written here, or the client's cache could not match the 304 to its copy (RFC 9111 §4.3.4).
 */
export function notModifiedOf(entry: Validated, length: string | undefined, now: number, status: string, offer: Offer | undefined): StoredAnswer {
  const headers: string[] = [];
  const stored = entry.headers;
  const encoded = offer === undefined ? undefined : decide(offer, entry.status, (name) => (name === 'content-length' ? length : rawHeader(stored, name)), false);
  let vary = encoded?.vary === true;
  for (let i = 0; i < stored.length; i += 2) {
    const name = stored[i] as string;
    const lower = name.toLowerCase();
    if (!KEPT_ON_304.has(lower) && (lower !== 'last-modified' || entry.etag !== undefined)) continue;
    let value = stored[i + 1] as string;
    if (lower === 'etag' && encoded?.coding !== undefined) value = weakened(value);
    if (lower === 'vary' && vary) {
      value = varyWith(value);
      vary = false;
    }
    headers.push(name, value);
  }
  if (vary) headers.push('Vary', 'Accept-Encoding');
  headers.push('age', String(ageOf(entry, now)), 'cache-status', status);
  return { head: { status: 304, reason: 'Not Modified', headers, close: false, connectionTokens: [] }, body: Buffer.alloc(0) };
}

/** A stored entry as the answer to this client: a 304 when its own validators match, else the whole answer. */
export function answerTo(asked: Conditions | undefined, entry: Entry, now: number, status: string, offer: Offer | undefined): StoredAnswer {
  return asked !== undefined && notModified(asked, entry) ? notModifiedOf(entry, String(entry.body.length), now, status, offer) : answerOf(entry, now, status);
}
