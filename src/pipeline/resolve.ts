import type { IncomingMessage } from 'node:http';
import type { TLSSocket } from 'node:tls';
import type { Runtime } from '../runtime.js';
import { hostOf } from './host.js';
import { routingPath } from './path.js';
import { matchRoute, type Route, type Site } from './sites.js';

/** Where a request is going, or the status that stops it; shared by plain requests and upgrades. */
export type Resolution =
  | { readonly ok: true; readonly site: Site; readonly route: Route; readonly host: string }
  | { readonly ok: false; readonly status: number; readonly reason: string; readonly host: string };

/**
 * Host → site → route, with the domain-fronting check: when the TLS SNI named a configured
 * site, Host must name the same one (RFC 9110 §7.4 lets us answer 421 Misdirected Request).
 */
export function resolve(runtime: Runtime, req: IncomingMessage): Resolution {
  const url = req.url ?? '';
  const servername = (req.socket as TLSSocket).servername;
  const sniSite = typeof servername === 'string' ? runtime.sites.match(servername.toLowerCase()) : undefined;
  const parsed = hostOf(req.headers.host);
  if (parsed === null || hostCount(req.rawHeaders) > 1) return { ok: false, status: 400, reason: 'malformed or repeated Host header', host: '' };
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    return { ok: false, status: 400, reason: 'request-target must be origin-form ("/path")', host: parsed ?? '' };
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (Node's own answer would lack HSTS).
  if (parsed === undefined && req.httpVersionMinor !== 0) return { ok: false, status: 400, reason: 'missing Host header', host: '' };
  // HTTP/1.0 without Host: the SNI's site is the only honest answer.
  const site = parsed === undefined ? sniSite : runtime.sites.match(parsed);
  const host = parsed ?? '';
  if (site === undefined) return { ok: false, status: 421, reason: `no site serves host "${host}"`, host };
  if (sniSite !== undefined && sniSite !== site) {
    return { ok: false, status: 421, reason: `host "${host}" is not served under TLS name "${servername as string}"`, host };
  }
  const path = routingPath(url);
  if (path === null) return { ok: false, status: 400, reason: 'path climbs above "/" with dot segments', host };
  const route = matchRoute(site, path);
  if (route === undefined) return { ok: false, status: 404, reason: 'no route matches this path', host };
  return { ok: true, site, route, host };
}


/** RFC 9112 §3.2: more than one Host is a 400 (Node keeps the first and drops the rest silently). */
function hostCount(raw: readonly string[]): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === 'host') n++;
  }
  return n;
}
