import { checkServerIdentity, type PeerCertificate, type TLSSocket } from 'node:tls';
import { EdgeError } from '../errors.js';
import type { Runtime } from './runtime.js';
import { hostOf } from '../http/host.js';
import { routingPath } from './path.js';
import type { ClientRequest } from '../http/message.js';
import { matchRoute, MethodMismatch, type Route, type Site } from './sites.js';

/** Where a request is going, or the refusal that stops it; shared by plain requests and upgrades. */
export type Resolution =
  | { readonly ok: true; readonly site: Site; readonly route: Route; readonly host: string; readonly path: string }
  | {
    /** The refusal; its message is the answer's body and the log's reason. */
    readonly ok: false; readonly error: EdgeError; readonly host: string;
    /** The site, when one was found: its header rules apply to this answer too. */
    readonly site?: Site;
    /** For a 405: the methods the path is served with. */
    readonly allow?: string;
  };

/**
 * Host (or :authority) → site → route, with the domain-fronting check: when the TLS SNI named a
 * configured site and the request names another, it is served only if the certificate this
 * connection presented covers that host — what a browser checks before it reuses a connection
 * (RFC 9113 §9.1.1) — else 421 Misdirected Request (RFC 9110 §15.5.20). Same rule on h1 and h2.
 */
export function resolve(runtime: Runtime, req: ClientRequest, scheme: 'http' | 'https' = 'https'): Resolution {
  const url = req.url ?? '';
  const socket = req.socket as TLSSocket;
  const servername = socket.servername;
  const sni = typeof servername === 'string' ? servername.toLowerCase() : undefined;
  const parsed = req.httpVersionMajor === 2 ? authorityOf(req) : hostCount(req.rawHeaders) > 1 ? null : hostOf(req.headers.host);
  if (parsed === null) return { ok: false, error: new EdgeError('EDGE_ERR_BAD_REQUEST', 'malformed or repeated Host header'), host: '' };
  if (url.charCodeAt(0) !== 47 /* '/' */) {
    return { ok: false, error: new EdgeError('EDGE_ERR_BAD_REQUEST', 'request-target must be origin-form ("/path")'), host: parsed ?? '' };
  }
  // RFC 9112 §3.2: an HTTP/1.1 request without Host is a 400 (Node's own answer would lack HSTS).
  if (parsed === undefined && req.httpVersionMinor !== 0) return { ok: false, error: new EdgeError('EDGE_ERR_BAD_REQUEST', 'missing Host header'), host: '' };
  // HTTP/1.0 without Host: the SNI's site is the only honest answer, and the TLS name is the
  // host (nginx's $host falls back to the server name the same way).
  const site = parsed === undefined ? (sni === undefined ? undefined : runtime.sites.match(sni)) : runtime.sites.match(parsed);
  const host = parsed ?? (site === undefined ? '' : sni as string);
  if (site === undefined) return { ok: false, error: new EdgeError('EDGE_ERR_MISDIRECTED', `no site serves host "${host}"`), host };
  // The TLS name's site, looked up only when it names another host than the request (a Host equal to it has its very site).
  const sniSite = sni === undefined ? undefined : parsed === undefined || sni === parsed ? site : runtime.sites.match(sni);
  if (sniSite !== undefined && sniSite !== site && !presentedCertificateCovers(socket, host)) {
    return { ok: false, error: new EdgeError('EDGE_ERR_MISDIRECTED', `host "${host}" is not served under TLS name "${servername as string}"`), host };
  }
  const routed = routingPath(url);
  if (routed === null) return { ok: false, error: new EdgeError('EDGE_ERR_BAD_REQUEST', 'path climbs above "/" with dot segments'), host };
  // RFC 8441's extended CONNECT is a WebSocket handshake: routed as the GET it is on HTTP/1.1.
  // routingPath's fast path keeps the query: prefixes match either way, so only the rest cut it.
  const path = site.simple ? routed : withoutQuery(routed);
  // Regex work grows with the path: a bound keeps even the linear engine's worst case to ms.
  if (path.length > MAX_REGEX_PATH && site.regexes.length > 0) {
    return { ok: false, error: new EdgeError('EDGE_ERR_URI_TOO_LONG', `a path longer than ${MAX_REGEX_PATH} bytes is not matched against regex routes`), host, site };
  }
  const route = matchRoute(site, path, req.method === 'CONNECT' ? 'GET' : req.method, scheme);
  if (route === undefined) return { ok: false, error: new EdgeError('EDGE_ERR_NO_ROUTE', 'no route matches this path'), host, site };
  if (route instanceof MethodMismatch) {
    return { ok: false, error: new EdgeError('EDGE_ERR_METHOD_NOT_ALLOWED', `this path is served for ${route.allow}`), host, site, allow: route.allow };
  }
  return { ok: true, site, route, host, path };
}

/** nginx's default request-line buffer (large_client_header_buffers 8k): longer paths get 414 there too. */
const MAX_REGEX_PATH = 8192;

/** The path part of a routing path (the query of an unchanged target cut). */
export function withoutQuery(path: string): string {
  const q = path.indexOf('?');
  return q === -1 ? path : path.slice(0, q);
}

/** RFC 9113 §8.3.1: :authority wins; a Host that names something else makes the request malformed. */
function authorityOf(req: ClientRequest): string | null | undefined {
  const authority = req.headers[':authority'];
  const fromAuthority = typeof authority === 'string' ? hostOf(authority) : undefined;
  const host = req.headers.host;
  if (host === undefined) return fromAuthority;
  const fromHost = typeof host === 'string' ? hostOf(host) : null;
  if (fromAuthority === undefined) return fromHost;
  return fromHost === fromAuthority ? fromAuthority : null;
}

/** The rare cross-site request only: reads the certificate this TLS connection sent. */
function presentedCertificateCovers(socket: TLSSocket, host: string): boolean {
  const cert = socket.getCertificate?.();
  if (cert === null || cert === undefined || !('subject' in cert)) return false;
  return checkServerIdentity(host, cert as PeerCertificate) === undefined;
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
