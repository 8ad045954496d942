import type { IncomingHttpHeaders } from 'node:http';
import CachePolicy from 'http-cache-semantics';
import type { RouteCacheConfig } from '../config/cache.js';
import { responseHeaders } from '../http/hop-by-hop.js';
import type { ResponseHead } from '../upstream/response-parser.js';
import type { Entry } from './entry.js';
import { varyNames, variantOf } from './key.js';

/** Why an answer was not stored: Cache-Status's `detail` (RFC 9211 §2.8). */
export type Refusal = 'set-cookie' | 'authenticated' | 'private' | 'no-store' | 'not-storable' | 'vary-star' | 'partial' | 'no-lifetime' | 'too-large';

/** What storing an answer would keep, before its body is read. */
export type Assessment =
  | { readonly store: false; readonly reason: Refusal }
  | { readonly store: true; readonly entry: Omit<Entry, 'body' | 'size'> };

const EXPLICIT = /(?:^|,)\s*(?:s-maxage|max-age)\s*=/i;
const SHARED_OK = /(?:^|,)\s*(?:public|s-maxage\s*=)/i;
const REVALIDATE = /(?:^|,)\s*(?:must-revalidate|proxy-revalidate)\b/i;
const FRAMING = new Set(['age', 'content-length']);

/**
 * RFC 9111 for a shared cache, through http-cache-semantics (storable, freshness lifetime,
 * Age), plus the rules a proxy in front of one app needs on top of it:
 * - `Set-Cookie` is never stored: a session handed to the next visitor is the worst leak there is;
 * - a request with `Authorization` (§3.5) or a `Cookie` is stored only when the upstream says
 *   the answer is shared (`public` or `s-maxage`); the cookie rule defeats cache deception
 *   (`/account.css` served the account page: the victim's request carried the cookie);
 * - `valid` gives a lifetime only where the upstream gave none (nginx proxy_cache_valid), as an
 *   `s-maxage` the policy sees; the stored header block stays the upstream's.
 */
export function assess(method: string, url: string, request: IncomingHttpHeaders, head: ResponseHead, rc: RouteCacheConfig, key: string, now: number): Assessment {
  if (method !== 'GET') return { store: false, reason: 'not-storable' };
  if (head.status === 206) return { store: false, reason: 'partial' };
  const pairs = responseHeaders(head.headers, head.connectionTokens, null, false, head.status);
  const headers: Record<string, string> = {};
  for (let i = 0; i < pairs.length; i += 2) {
    const name = (pairs[i] as string).toLowerCase();
    const value = pairs[i + 1] as string;
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  if (headers['set-cookie'] !== undefined) return { store: false, reason: 'set-cookie' };
  const cc = headers['cache-control'] ?? '';
  if ((request.authorization !== undefined || request.cookie !== undefined) && !SHARED_OK.test(cc)) return { store: false, reason: 'authenticated' };
  const vary = varyNames(headers.vary);
  if (vary === null) return { store: false, reason: 'vary-star' };
  const explicit = EXPLICIT.test(cc) || headers.expires !== undefined;
  const valid = explicit ? undefined : rc.valid.get(head.status) ?? rc.valid.get(0);
  const seen = valid === undefined ? headers : { ...headers, 'cache-control': `${cc === '' ? '' : `${cc}, `}s-maxage=${Math.floor(valid / 1000)}` };
  const policy = new CachePolicy({ method, url, headers: request }, { status: head.status, headers: seen }, { shared: true });
  if (!policy.storable()) return { store: false, reason: /\bprivate\b/i.test(cc) ? 'private' : /\bno-store\b/i.test(cc) ? 'no-store' : 'not-storable' };
  const lifetime = policy.maxAge();
  const age = policy.age();
  const etag = headers.etag;
  const lastModified = headers['last-modified'];
  // Nothing fresh and nothing to revalidate with: keeping it would only cost memory.
  if (lifetime - age <= 0 && etag === undefined && lastModified === undefined) return { store: false, reason: 'no-lifetime' };
  const kept: string[] = [];
  for (let i = 0; i < pairs.length; i += 2) if (!FRAMING.has((pairs[i] as string).toLowerCase())) kept.push(pairs[i] as string, pairs[i + 1] as string);
  return {
    store: true,
    entry: {
      key, vary, variant: variantOf(vary, request), status: head.status, reason: head.reason, headers: kept,
      storedAt: now, initialAge: age, freshUntil: now + Math.max(0, lifetime - age) * 1000,
      swr: seconds(cc, 'stale-while-revalidate') * 1000, sie: seconds(cc, 'stale-if-error') * 1000,
      mustRevalidate: REVALIDATE.test(cc), explicit, etag, lastModified,
    },
  };
}

/**
 * A 304 to our conditional request (RFC 9111 §4.3.4): the stored header block takes the new
 * fields, the body stays, and freshness is computed again from the merged block.
 */
export function refreshed(entry: Entry, head: ResponseHead, request: IncomingHttpHeaders, url: string, rc: RouteCacheConfig, now: number): Entry | undefined {
  const update = responseHeaders(head.headers, head.connectionTokens, null, false, 200);
  const names = new Set<string>();
  for (let i = 0; i < update.length; i += 2) names.add((update[i] as string).toLowerCase());
  names.delete('content-length');
  const merged: string[] = [];
  for (let i = 0; i < entry.headers.length; i += 2) if (!names.has((entry.headers[i] as string).toLowerCase())) merged.push(entry.headers[i] as string, entry.headers[i + 1] as string);
  for (let i = 0; i < update.length; i += 2) if (names.has((update[i] as string).toLowerCase())) merged.push(update[i] as string, update[i + 1] as string);
  const a = assess('GET', url, request, { status: entry.status, reason: entry.reason, headers: merged, close: false, connectionTokens: [] }, rc, entry.key, now);
  if (!a.store) return undefined;
  return { ...a.entry, variant: entry.variant, vary: entry.vary, body: entry.body, size: entry.size };
}

/** A delta-seconds directive of Cache-Control (RFC 5861 §3, §4); 0 when absent. */
function seconds(cc: string, name: string): number {
  const m = new RegExp(`(?:^|,)\\s*${name}\\s*=\\s*"?(\\d+)`, 'i').exec(cc);
  return m === null ? 0 : Number(m[1]);
}
