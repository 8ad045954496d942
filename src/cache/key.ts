import type { IncomingHttpHeaders } from 'node:http';

/**
 * Request headers that some frameworks read as the URL, host or scheme (Symfony and IIS take
 * X-Original-URL / X-Rewrite-URL; Rack and others X-Forwarded-Scheme, X-Host…) while the cache
 * key does not name them: the unkeyed inputs of web cache poisoning. A request carrying one is
 * neither answered from the cache nor stored (Cache-Status `fwd=bypass`), so it cannot change
 * what anyone else is given. X-Forwarded-Host is not listed: the edge sets it from Host
 * (pipeline/forwarded.ts) unless a trusted proxy sent it.
 */
const UNKEYED = [
  'x-original-url', 'x-rewrite-url', 'x-original-host', 'x-forwarded-scheme', 'x-forwarded-server', 'x-forwarded-prefix',
  'x-host', 'x-http-method-override', 'x-http-method', 'x-method-override',
];

/** The first unkeyed override header the request carries, if any. */
export function unkeyedHeader(headers: IncomingHttpHeaders): string | undefined {
  for (const name of UNKEYED) if (headers[name] !== undefined) return name;
  return undefined;
}

/** The request header names a response varies on (RFC 9110 §12.5.5), lower-case and sorted; null for `Vary: *`. */
export function varyNames(vary: string | undefined): readonly string[] | null {
  if (vary === undefined) return [];
  const names = new Set<string>();
  for (const part of vary.split(',')) {
    const name = part.trim().toLowerCase();
    if (name === '*') return null;
    if (name !== '') names.add(name);
  }
  return [...names].sort();
}

/**
 * The request's values of the Vary'd headers, one string (RFC 9111 §4.1: a stored answer is
 * selected only when these match the request that stored it). Combined field lines are joined
 * and whitespace around commas normalised, so `a,b` and `a, b` select the same entry.
 */
export function variantOf(names: readonly string[], headers: IncomingHttpHeaders): string {
  if (names.length === 0) return '';
  let out = '';
  for (const name of names) {
    const value = headers[name];
    const text = value === undefined ? '\u0001' : (Array.isArray(value) ? value.join(',') : value).split(',').map((s) => s.trim()).join(',');
    out += `${name}:${text}\n`;
  }
  return out;
}
