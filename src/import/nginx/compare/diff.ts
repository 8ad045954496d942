import { createHash } from 'node:crypto';
import { parseEcho, type Echo } from './backends.js';
import type { CompareRequest } from './requests.js';
import type { Answer } from './send.js';

/** Differences Gatehouse makes on purpose: shown with their name, never counted. */
export const NAMED = {
  hsts: 'HSTS on every answer',
  unknownHost: 'unknown hosts get 421 on TLS and a redirect to a served host on plain HTTP (nginx answers from its default server)',
  tls13: 'TLS 1.3 only',
  origin: 'Origin check on WebSocket upgrades (403 for a foreign Origin)',
  generated: 'redirects and error pages: each writes its own body and Content-Type',
  noStore: 'Cache-Control: no-store on answers Gatehouse generates',
  clientHost: "the backend gets the client's Host (nginx without `proxy_set_header Host` sends the upstream's address)",
  authCharset: 'WWW-Authenticate: Basic says charset="UTF-8" (RFC 7617 §2.1)',
  cacheStatus: "a cached route says what happened in Cache-Status (RFC 9211) instead of an X-Cache-Status of nginx's $upstream_cache_status",
  cacheIdentity: 'a cached route asks its upstream for the identity body and compresses each answer for its client (README "Caching")',
} as const;
export type NamedKey = keyof typeof NAMED;

/** One field of one request that differs. */
export interface Difference {
  readonly request: CompareRequest;
  readonly field: string;
  readonly nginx: string;
  readonly gatehouse: string;
  /** Set for a difference that is Gatehouse's design. */
  readonly named?: NamedKey;
}

/** Response headers compared on every answer (besides the ones the config itself names). */
const RESPONSE_HEADERS = ['content-type', 'cache-control', 'vary', 'www-authenticate', 'allow', 'content-encoding', 'x-frame-options',
  'x-content-type-options', 'referrer-policy', 'content-security-policy', 'permissions-policy', 'x-xss-protection',
  'cross-origin-opener-policy', 'cross-origin-embedder-policy', 'cross-origin-resource-policy', 'upgrade', 'x-powered-by'];
/** Request headers compared at the backend (besides the ones the config sets with proxy_set_header). */
const BACKEND_HEADERS = ['host', 'authorization', 'cookie', 'content-type', 'upgrade', 'origin', 'user-agent', 'accept-encoding'];
/**
 * Never compared: Gatehouse's own forwarding headers at the backend (it replaces what clients send,
 * by design), hop-by-hop and framing fields, and the per-answer Server/Date.
 */
export const NOT_COMPARED = new Set(['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded',
  'connection', 'keep-alive', 'transfer-encoding', 'content-length', 'server', 'date', 'strict-transport-security', 'te', 'via']);

/** What the diff needs to know about the config and the two runs. */
export interface DiffContext {
  /** Header names the config sets or hides (add_header, proxy_hide_header, proxy_set_header), lower-case. */
  readonly configHeaders: ReadonlySet<string>;
  /** Per side: its loopback port → the original port, to write URLs and Hosts as the original would. */
  readonly nginxPorts: ReadonlyMap<number, number>;
  readonly gatehousePorts: ReadonlyMap<number, number>;
  /** Stand-in address → the original address (nginx sends `$proxy_host`, i.e. the stand-in, upstream). */
  readonly standIns: ReadonlyMap<string, string>;
}

/** Every difference between the two answers to one request. */
export function diffAnswers(r: CompareRequest, n: Answer, g: Answer, ctx: DiffContext): Difference[] {
  const out: Difference[] = [];
  const add = (field: string, nv: string, gv: string, named?: NamedKey): void => {
    out.push({ request: r, field, nginx: nv, gatehouse: gv, ...(named === undefined ? {} : { named }) });
  };
  const state = (a: Answer): string => (a.error !== undefined ? `no answer (${a.error})` : String(a.status));
  if (n.error !== undefined || g.error !== undefined || n.status !== g.status) {
    if (state(n) === state(g)) return out;
    const named: NamedKey | undefined = r.kind === 'tls12' && g.error !== undefined ? 'tls13'
      : r.kind === 'unknown-host' ? 'unknownHost'
        : r.kind === 'foreign-origin' && g.status === 403 ? 'origin' : undefined;
    add('status', state(n), state(g), named);
    return out;
  }
  // A 101 hands the connection over: only the upgrade itself matters, not the headers of the head.
  if (n.status === 101) {
    if (n.headers.upgrade?.toLowerCase() !== g.headers.upgrade?.toLowerCase()) add('upgrade', n.headers.upgrade ?? '(none)', g.headers.upgrade ?? '(none)');
    return out;
  }
  diffHeadersAndBody(r, n, g, ctx, add);
  // Whatever an unknown Host gets is the default server's answer against Gatehouse's refusal.
  if (r.kind === 'unknown-host') return out.map((d) => (d.named === undefined ? { ...d, named: 'unknownHost' } : d));
  return out;
}

type Add = (field: string, nv: string, gv: string, named?: NamedKey) => void;

function diffHeadersAndBody(r: CompareRequest, n: Answer, g: Answer, ctx: DiffContext, add: Add): void {
  if (n.protocol !== g.protocol) add('tls', n.protocol ?? '-', g.protocol ?? '-', 'tls13');
  const nLocation = n.headers.location === undefined ? '' : unport(n.headers.location, ctx.nginxPorts);
  const gLocation = g.headers.location === undefined ? '' : unport(g.headers.location, ctx.gatehousePorts);
  if (nLocation !== gLocation) add('location', nLocation || '(none)', gLocation || '(none)');
  const hsts = n.headers['strict-transport-security'];
  const gHsts = g.headers['strict-transport-security'];
  if (hsts !== gHsts) add('strict-transport-security', hsts ?? '(none)', gHsts ?? '(none)', hsts === undefined ? 'hsts' : undefined);
  const nEcho = r.method === 'HEAD' ? undefined : parseEcho(n.body);
  const gEcho = r.method === 'HEAD' ? undefined : parseEcho(g.body);
  const fromBackend = nEcho !== undefined || gEcho !== undefined || n.headers['x-powered-by'] === 'compare-stand-in';
  const generated = !fromBackend && n.status >= 300;
  for (const name of new Set([...RESPONSE_HEADERS, ...ctx.configHeaders])) {
    if (NOT_COMPARED.has(name) || name === 'location') continue;
    const nv = n.headers[name];
    const gv = g.headers[name];
    if (nv === gv || (name === 'www-authenticate' && nv === gv?.replace(/, charset="UTF-8"$/i, ''))) {
      if (nv !== gv) add(name, nv ?? '(none)', gv ?? '(none)', 'authCharset');
      continue;
    }
    const named = generated && name === 'content-type' ? 'generated'
      : !fromBackend && name === 'cache-control' && nv === undefined && gv === 'no-store' ? 'noStore'
        : name === 'x-cache-status' && gv === undefined && g.headers['cache-status'] !== undefined ? 'cacheStatus' : undefined;
    add(name, nv ?? '(none)', gv ?? '(none)', named);
  }
  if (r.method === 'HEAD') return;
  if (nEcho !== undefined && gEcho !== undefined) {
    for (const d of diffEchoes(nEcho, gEcho, ctx, r.host.replace('{port}', String(r.listen.port)), g.headers['cache-status'] !== undefined)) add(d.field, d.nginx, d.gatehouse, d.named);
    return;
  }
  if (nEcho !== undefined || gEcho !== undefined) {
    add('body', nEcho === undefined ? describe(n.body) : `echo from ${nEcho.standIn}`, gEcho === undefined ? describe(g.body) : `echo from ${gEcho.standIn}`);
    return;
  }
  const nb = describe(n.body);
  const gb = describe(g.body);
  if (nb !== gb) add('body', nb, gb, generated ? 'generated' : undefined);
}

/** What reached the backend: which stand-in, the method, the target as received, the body, the headers that matter. */
function diffEchoes(n: Echo, g: Echo, ctx: DiffContext, hostSent: string, cached: boolean): { field: string; nginx: string; gatehouse: string; named?: NamedKey }[] {
  const out: { field: string; nginx: string; gatehouse: string; named?: NamedKey }[] = [];
  const add = (field: string, nv: string, gv: string, named?: NamedKey): void => {
    if (nv !== gv) out.push({ field, nginx: nv, gatehouse: gv, ...(named === undefined ? {} : { named }) });
  };
  add('backend', n.standIn, g.standIn);
  add('backend method', n.method, g.method);
  add('backend target', n.url, g.url);
  add('backend body', n.body || '(none)', g.body || '(none)');
  for (const name of new Set([...BACKEND_HEADERS, ...ctx.configHeaders])) {
    if (NOT_COMPARED.has(name)) continue;
    const nv = backendValue(name, n.headers[name], ctx.nginxPorts, ctx.standIns);
    const gv = backendValue(name, g.headers[name], ctx.gatehousePorts, ctx.standIns);
    const proxyHost = name === 'host' && n.headers.host !== undefined && ctx.standIns.has(n.headers.host) && gv === hostSent;
    const identity = name === 'accept-encoding' && gv === undefined && cached;
    add(`backend ${name}`, nv ?? '(none)', gv ?? '(none)', proxyHost ? 'clientHost' : identity ? 'cacheIdentity' : undefined);
  }
  return out;
}

/** A header as the backend would have seen it behind the original: test ports and stand-in addresses put back. */
function backendValue(name: string, value: string | undefined, ports: ReadonlyMap<number, number>, standIns: ReadonlyMap<string, string>): string | undefined {
  if (value === undefined) return undefined;
  if (name === 'host' || name === 'origin') {
    const original = standIns.get(value);
    // nginx writes $proxy_host without the default port.
    if (original !== undefined) return original.replace(/:80$/, '');
    return unport(value, ports);
  }
  return value;
}

/** `https://h:TESTPORT/x` → `https://h/x` (or `:ORIGINAL` when that is not the scheme's default); `h:TESTPORT` → `h:ORIGINAL`. */
export function unport(value: string, ports: ReadonlyMap<number, number>): string {
  return value.replace(/^(?:(https?):\/\/)?([^/:]+|\[[^\]]+\]):(\d+)/i, (whole, scheme: string | undefined, host: string, port: string) => {
    const original = ports.get(Number(port));
    if (original === undefined) return whole;
    const def = scheme?.toLowerCase() === 'https' ? 443 : scheme?.toLowerCase() === 'http' ? 80 : undefined;
    const prefix = scheme === undefined ? '' : `${scheme}://`;
    return original === def ? `${prefix}${host}` : `${prefix}${host}:${original}`;
  });
}

/** A body for the report: short text as is, otherwise its length and hash. */
function describe(body: Buffer): string {
  if (body.length === 0) return '(empty)';
  const text = body.toString('utf8');
  if (body.length <= 60 && /^[\x20-\x7e\n\r\t]*$/.test(text)) return JSON.stringify(text);
  return `${body.length} bytes sha256:${createHash('sha256').update(body).digest('hex').slice(0, 12)}`;
}
