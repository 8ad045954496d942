import type { IncomingHttpHeaders } from 'node:http';
import type { Offer } from '../compress/policy.js';
import type { RouteCacheConfig } from '../config/cache.js';
import type { EdgeError } from '../errors.js';
import { responseHeaders } from '../http/hop-by-hop.js';
import { rawHeader } from '../http/message.js';
import type { AnswerTap, StoredAnswer } from '../proxy/forward.js';
import type { ResponseHead } from '../upstream/response-parser.js';
import { answerTo, notModified, notModifiedOf, type Conditions, type Validated } from './conditional.js';
import { answerOf, sizeOf, ttlOf, type Entry } from './entry.js';
import { assess, refreshed } from './policy.js';

/** What a tap needs of the cache that made it. */
export interface TapOwner {
  store(entry: Entry): void;
  invalidate(key: string): void;
  /** The one request going upstream for `key` is done (stored or not): wake those waiting on it. */
  release(key: string): void;
  count(result: 'miss' | 'stale' | 'revalidated'): void;
  /** The largest answer worth keeping. */
  readonly entryLimit: number;
}

/** One request on its way upstream for a key. */
export interface Trip {
  readonly key: string;
  readonly method: string;
  /** The request-target (for the policy's bookkeeping). */
  readonly url: string;
  /** The request headers as sent upstream (Vary is matched on these). */
  readonly headers: IncomingHttpHeaders;
  readonly rc: RouteCacheConfig;
  /** The stored answer this trip revalidates, or may fall back on. */
  readonly stale: Entry | undefined;
  /** Our own If-None-Match / If-Modified-Since went with it: a 304 is for us. */
  readonly conditional: boolean;
  /** This trip is the one others wait on (it releases the key when done). */
  readonly owner: boolean;
  /** The client's own validators (replaced by ours upstream): a revalidated entry they match is a 304. */
  readonly asked: Conditions | undefined;
  /** The route's compression as the client allows it (a 304 names the ETag and Vary its 200 would have). */
  readonly offer: Offer | undefined;
}

/** Cache-Status (RFC 9211) added to an answer relayed from the upstream. */
export function withStatus(head: ResponseHead, status: string): { head: ResponseHead; body: undefined } {
  return { head: { ...head, headers: [...head.headers, 'cache-status', status] }, body: undefined };
}

/** A GET or HEAD of a cached route that went upstream: decides what is stored and what stands in for failures. */
export class FillTap implements AnswerTap {
  readonly #cache: TapOwner;
  readonly #trip: Trip;
  #open: boolean;
  #pending: Omit<Entry, 'body' | 'size'> | undefined;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(cache: TapOwner, trip: Trip) {
    this.#cache = cache;
    this.#trip = trip;
    this.#open = trip.owner;
  }

  head(head: ResponseHead): { readonly head: ResponseHead; readonly body: Buffer | undefined } {
    const trip = this.#trip;
    const stale = trip.stale;
    const now = Date.now();
    if (stale !== undefined && head.status === 304 && trip.conditional) {
      const fresh = refreshed(stale, head, trip.headers, trip.url, trip.rc, now);
      if (fresh === undefined) this.#cache.invalidate(trip.key);
      else this.#cache.store(fresh);
      this.#done();
      this.#cache.count('revalidated');
      const entry = fresh ?? stale;
      const status = 'Gatehouse; fwd=stale; fwd-status=304';
      return answerTo(trip.asked, entry, now, status, trip.offer);
    }
    if (stale !== undefined && !stale.mustRevalidate && (trip.rc.useStale.statuses.includes(head.status) || (head.status >= 500 && now < stale.freshUntil + stale.sie))) {
      this.#done();
      this.#cache.count('stale');
      return answerOf(stale, now, `Gatehouse; fwd=stale; fwd-status=${head.status}; ttl=${ttlOf(stale, now)}; detail=served-stale`);
    }
    const fwd = stale === undefined ? 'fwd=miss' : 'fwd=stale';
    this.#cache.count('miss');
    const length = declaredLength(head.headers);
    let status: string;
    let seen: Validated | undefined;
    if (trip.method === 'HEAD') {
      // A HEAD answer has no body to keep; a GET's entry answers HEADs (RFC 9110 §9.3.2).
      this.#done();
      status = `Gatehouse; ${fwd}; fwd-status=${head.status}`;
    } else {
      const a = assess(trip.method, trip.url, trip.headers, head, trip.rc, trip.key, now);
      if (a.store && length <= this.#cache.entryLimit) {
        this.#pending = a.entry;
        seen = a.entry;
        status = `Gatehouse; ${fwd}; fwd-status=${head.status}; stored`;
      } else {
        this.#done();
        status = `Gatehouse; ${fwd}; fwd-status=${head.status}; detail=${a.store ? 'too-large' : a.reason}`;
      }
    }
    // The client's own validators did not go upstream (cache.ts): its conditional is answered here,
    // from the whole answer, while that answer is still read and stored (nginx's not_modified filter).
    const asked = trip.asked;
    if (asked !== undefined && head.status === 200) {
      seen ??= validatedOf(head, now);
      // A date compares only with the answer's own Last-Modified: it has not been stored to have another.
      if ((asked.ifNoneMatch !== undefined || seen.lastModified !== undefined) && notModified(asked, seen)) {
        return notModifiedOf(seen, rawHeader(head.headers, 'content-length'), now, status, trip.offer);
      }
    }
    return withStatus(head, status);
  }

  body(chunk: Buffer): void {
    if (this.#pending === undefined) return;
    this.#bytes += chunk.length;
    if (this.#bytes > this.#cache.entryLimit) {
      this.#pending = undefined;
      this.#chunks = [];
      this.#done();
      return;
    }
    this.#chunks.push(chunk);
  }

  end(): void {
    const pending = this.#pending;
    if (pending !== undefined) {
      const body = this.#chunks.length === 1 ? this.#chunks[0] as Buffer : Buffer.concat(this.#chunks);
      this.#cache.store({ ...pending, body, size: sizeOf(pending.headers, body) });
    }
    this.#pending = undefined;
    this.#chunks = [];
    this.#done();
  }

  fail(error: EdgeError): StoredAnswer | string {
    this.#done();
    const stale = this.#trip.stale;
    const status = `Gatehouse; ${stale === undefined ? 'fwd=miss' : 'fwd=stale'}; detail=${error.code}`;
    if (stale === undefined || stale.mustRevalidate) return status;
    const now = Date.now();
    const use = this.#trip.rc.useStale;
    // 504s are timeouts (connect or response); 502/503 the upstream's errors; anything else (the client's) is not the upstream's fault.
    const allowed = error.status === 504 ? use.timeout : error.status === 502 || error.status === 503 ? use.error : false;
    if (!allowed && !(error.status >= 502 && now < stale.freshUntil + stale.sie)) return status;
    this.#cache.count('stale');
    return answerOf(stale, now, `Gatehouse; fwd=stale; ttl=${ttlOf(stale, now)}; detail=${error.code}`);
  }

  abort(): void {
    this.#pending = undefined;
    this.#chunks = [];
    this.#done();
  }

  #done(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#cache.release(this.#trip.key);
  }
}

/**
 * Requests a cached route does not look up (other methods, unkeyed override headers): they say
 * so in Cache-Status; a non-error answer to an unsafe method invalidates the key (RFC 9111 §4.4).
 */
export class PassTap implements AnswerTap {
  readonly #cache: TapOwner;
  readonly #status: string;
  readonly #invalidates: string | undefined;

  constructor(cache: TapOwner, status: string, invalidates: string | undefined) {
    this.#cache = cache;
    this.#status = status;
    this.#invalidates = invalidates;
  }

  head(head: ResponseHead): { readonly head: ResponseHead; readonly body: undefined } {
    if (this.#invalidates !== undefined && head.status < 400) this.#cache.invalidate(this.#invalidates);
    return withStatus(head, this.#status);
  }

  body(): void {}
  end(): void {}
  fail(error: EdgeError): string {
    return `${this.#status}; detail=${error.code}`;
  }
  abort(): void {}
}

/** An answer that is not kept, as a 304 would be made from it: its fields without the hop-by-hop ones, its own Age. */
function validatedOf(head: ResponseHead, now: number): Validated {
  const headers = responseHeaders(head.headers, head.connectionTokens, null, false, head.status);
  const age = Number(rawHeader(headers, 'age'));
  return {
    status: head.status, headers, etag: rawHeader(headers, 'etag'), lastModified: rawHeader(headers, 'last-modified'),
    storedAt: now, initialAge: Number.isInteger(age) && age > 0 ? age : 0,
  };
}

function declaredLength(pairs: readonly string[]): number {
  return Number(rawHeader(pairs, 'content-length') ?? 0);
}
