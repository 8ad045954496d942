import type { IncomingHttpHeaders } from 'node:http';
import type { CompressConfig } from '../config/files.js';
import { negotiate, type Coding } from './negotiate.js';

/**
 * What a request allows before its answer is seen: the coding it negotiated, or undefined.
 * `credentialed`: the answer must not be compressed if it sets a cookie (see below).
 */
export interface Offer {
  readonly coding: Coding | undefined;
  readonly config: CompressConfig;
  readonly credentialed: 'allowed' | 'refused';
}

/**
 * BREACH (Gluck, Harris, Prado 2013) needs three things in one compressed answer: a secret, text
 * the attacker chose, and many requests the attacker makes the victim's browser send, which only
 * a *cross-site* page can do. Browsers mark every request with Sec-Fetch-Site (a forbidden
 * header: no page can forge it), so the default `credentialed: same-origin` compresses an answer
 * to a request that carries credentials (Cookie, Authorization) — or whose answer sets a cookie —
 * only when the request came from the site itself or the user (`same-origin`, `none`).
 * Cross-site and same-site requests with credentials, and credentialed clients that do not send
 * Sec-Fetch-Site at all, get identity. `always` is every peer's behaviour; `never` never
 * compresses credentialed answers. Static files are not subject to it: they reflect no input.
 */
export function offerFor(config: CompressConfig, method: string, headers: IncomingHttpHeaders, dynamic: boolean): Offer {
  // RFC 9110 §9.3.2: HEAD gets the headers GET would, but there is no body to compress; the
  // answer still varies, so Vary is still set (decide() below).
  const coding = method === 'HEAD' ? undefined : negotiate(headers['accept-encoding'], config.algorithms);
  let credentialed: Offer['credentialed'] = 'allowed';
  if (dynamic && config.credentialed !== 'always') {
    const site = headers['sec-fetch-site'];
    const trusted = config.credentialed === 'same-origin' && (site === 'same-origin' || site === 'none');
    if (!trusted) credentialed = 'refused';
  }
  const carries = headers.cookie !== undefined || headers.authorization !== undefined;
  return { coding: carries && credentialed === 'refused' ? undefined : coding, config, credentialed };
}

/** The answer's side of the decision: Vary it or not, and the coding to apply (if any). */
export interface Decision {
  readonly vary: boolean;
  readonly coding: Coding | undefined;
}

const NO = { vary: false, coding: undefined } as const;

/**
 * Never compressed (README "Compression"): 1xx/204/206/304, answers already encoded, `no-transform`
 * (RFC 9110 §7.7 / RFC 9111 §5.2.2.6), text/event-stream (a client must see each event as sent),
 * types not listed, bodies shorter than minLength. Vary is set whenever another request could
 * have been answered compressed, so shared caches keep the variants apart (RFC 9110 §12.5.5).
 */
export function decide(offer: Offer, status: number, get: (name: string) => string | undefined, hasSetCookie: boolean): Decision {
  if (status < 200 || status === 204 || status === 206 || status === 304) return NO;
  const encoding = get('content-encoding');
  if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') return NO;
  if (/(?:^|,)\s*no-transform\s*(?:,|$)/i.test(get('cache-control') ?? '')) return NO;
  const type = mediaType(get('content-type'));
  if (type === undefined || type === 'text/event-stream' || !typeListed(offer.config.types, type)) return NO;
  const length = get('content-length');
  if (length !== undefined && Number(length) < offer.config.minLength) return { vary: true, coding: undefined };
  if (hasSetCookie && offer.credentialed === 'refused') return { vary: true, coding: undefined };
  return { vary: true, coding: offer.coding };
}

function mediaType(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const semi = value.indexOf(';');
  return (semi === -1 ? value : value.slice(0, semi)).trim().toLowerCase();
}

function typeListed(types: readonly string[], type: string): boolean {
  for (const t of types) {
    if (t === type) return true;
    if (t.endsWith('/*') && type.startsWith(t.slice(0, -1))) return true;
  }
  return false;
}

/** "Accept-Encoding" joined onto a Vary value, unless it is "*" or already there. */
export function varyWith(existing: string | undefined): string {
  if (existing === undefined || existing.trim() === '') return 'Accept-Encoding';
  if (existing.trim() === '*' || /(?:^|,)\s*accept-encoding\s*(?:,|$)/i.test(existing)) return existing;
  return `${existing}, Accept-Encoding`;
}

/** RFC 9110 §8.8.3: a strong validator names exact bytes, and these are other bytes. */
export function weakened(etag: string): string {
  return etag.startsWith('W/') ? etag : `W/${etag}`;
}

/**
 * Applies the decision to an upstream answer's header pairs (name, value, …) in place and
 * returns the coding to encode the body with, if any: Vary joined, and when encoding,
 * Content-Length and Accept-Ranges dropped (the length is unknown; ranges of the encoded
 * bytes are not offered), Content-Encoding set, a strong ETag weakened.
 */
export function compressPairs(offer: Offer, status: number, pairs: string[]): Coding | undefined {
  const find = (name: string): number => {
    for (let i = 0; i < pairs.length; i += 2) if ((pairs[i] as string).toLowerCase() === name) return i;
    return -1;
  };
  const get = (name: string): string | undefined => {
    const i = find(name);
    return i === -1 ? undefined : pairs[i + 1];
  };
  const decision = decide(offer, status, get, find('set-cookie') !== -1);
  if (decision.vary) {
    const i = find('vary');
    if (i === -1) pairs.push('Vary', 'Accept-Encoding');
    else pairs[i + 1] = varyWith(pairs[i + 1]);
  }
  const coding = decision.coding;
  if (coding === undefined) return undefined;
  for (const name of ['content-length', 'accept-ranges', 'content-encoding']) {
    const i = find(name);
    if (i !== -1) pairs.splice(i, 2);
  }
  pairs.push('Content-Encoding', coding);
  const e = find('etag');
  if (e !== -1) pairs[e + 1] = weakened(pairs[e + 1] as string);
  return coding;
}
