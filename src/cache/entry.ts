import type { StoredAnswer } from '../proxy/forward.js';

/** One stored answer (one variant of one key). Plain data, so the disk tier can write and read it. */
export interface Entry {
  /** The primary key (the route's `key` template expanded). */
  readonly key: string;
  /** Names the answer varies on, and this request's values of them (cache/key.ts). */
  readonly vary: readonly string[];
  readonly variant: string;
  readonly status: number;
  readonly reason: string;
  /** The upstream's header block without hop-by-hop fields, Age or Content-Length. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** When the answer arrived (ms since the epoch), and its age then (s, RFC 9111 §4.2.3). */
  readonly storedAt: number;
  readonly initialAge: number;
  readonly freshUntil: number;
  /** RFC 5861: how long past freshUntil it may be served while refreshing, or on an error (ms). */
  readonly swr: number;
  readonly sie: number;
  /** must-revalidate / proxy-revalidate: never served stale (RFC 9111 §4.2.4, §5.2.2.2). */
  readonly mustRevalidate: boolean;
  /**
   * The upstream gave the lifetime itself (max-age, s-maxage, Expires). An entry kept only by
   * `valid` or a heuristic is not given to requests with a Cookie or Authorization: the upstream
   * never said the answer is the same for everyone (nginx's `proxy_cache_bypass $cookie_…`, built in).
   */
  readonly explicit: boolean;
  readonly etag: string | undefined;
  readonly lastModified: string | undefined;
  /** Bytes counted against the store. */
  readonly size: number;
}

/** The bytes an entry costs: its body, its header block and a fixed overhead for the object. */
export function sizeOf(headers: readonly string[], body: Buffer): number {
  let size = body.length + 256;
  for (const h of headers) size += h.length;
  return size;
}

/** Seconds of freshness left (negative once stale): Cache-Status's `ttl` (RFC 9211 §2.6). */
export function ttlOf(entry: Entry, now: number): number {
  return Math.floor((entry.freshUntil - now) / 1000);
}

/** Its Age now (RFC 9111 §4.2.3): the age it arrived with plus the seconds it has been kept. */
export function ageOf(entry: Pick<Entry, 'initialAge' | 'storedAt'>, now: number): number {
  return Math.max(0, Math.floor(entry.initialAge + (now - entry.storedAt) / 1000));
}

/** The entry as an answer: its header block with Age (RFC 9111 §5.1), its length, and this cache's Cache-Status. */
export function answerOf(entry: Entry, now: number, status: string): StoredAnswer {
  const headers = entry.headers.slice();
  // The block is written as it is (proxy/forward.ts edgeFields): a 204 carries no length (RFC 9110 §8.6).
  if (entry.status === 204) headers.push('age', String(ageOf(entry, now)), 'cache-status', status);
  else headers.push('age', String(ageOf(entry, now)), 'content-length', String(entry.body.length), 'cache-status', status);
  return { head: { status: entry.status, reason: entry.reason, headers, close: false, connectionTokens: [] }, body: entry.body };
}
