import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../admin/metrics.js';
import type { ResponseCache } from '../cache/cache.js';
import { EdgeError, ERRORS, type EdgeErrorCode } from '../errors.js';
import { offerFor } from '../compress/policy.js';
import type { Logger } from '../log.js';
import type { BodyFraming, Exchange, Forwarder } from '../proxy/forward.js';
import { hstsOver, type Runtime } from './runtime.js';
import { clientAddress } from '../http/client-address.js';
import { applyForwarded } from '../http/forwarded.js';
import { bodyFraming, expectationRefusal, framingRefusal } from './framing.js';
import { sanitiseClientHeaders } from '../http/hop-by-hop.js';
import { bodyOf, isH2, protocolOf, responseComplete, upstreamHeaders, type ClientRequest, type ClientResponse } from '../http/message.js';
import { respond } from '../http/respond.js';
import { resolve, withoutQuery, type Resolution } from './resolve.js';
import { respondWithPage } from './error-pages.js';
import { serveFiles } from './files.js';
import { serveAccel } from './accel.js';
import { admitRequest } from './guard/doors.js';
import { actionAnswer, contextOf, respondRuled, ruledBy, writeAnswer } from './actions.js';
import { expand, type RequestContext } from './expand.js';
import { applyRequestRules, type AnswerRules } from './header-rules.js';
import type { Route, Site } from './sites.js';
import { declinedUpgrade } from './upgrade.js';
import type { H2Request } from '../http/h2-exchange.js';
import { REQUEST_HEADERS } from '../access-log.js';
import type { ExchangeLineWriter } from '../access-line.js';

/** What the HTTPS request path needs from the edge. */
export interface RequestDeps {
  runtime(): Runtime;
  readonly forwarder: Forwarder;
  readonly log: Logger;
  readonly metrics: Metrics;
  draining(): boolean;
  /** The response cache, when the config has a `cache:` store (routes with `cache` use it). */
  readonly cache?: ResponseCache | undefined;
}

/**
 * An h2 body is DATA frames (RFC 9113 §8.1): Content-Length when the client sent one (nghttp2
 * holds the frames to it), none when HEADERS ended the stream, else re-chunked for the upstream.
 */
function h2BodyFraming(req: H2Request): BodyFraming {
  const length = req.headers['content-length'];
  if (length !== undefined) return length === '0' ? 'none' : 'length';
  return req.stream.endAfterHeaders ? 'none' : 'chunked';
}

/**
 * The request pipeline: HSTS first, then resolve, forwarded headers, proxy. `http` is the :80
 * listener serving a `plainHttp: serve` site: the same pipeline without HSTS (RFC 6797 §7.2:
 * a host must not send it over plain HTTP).
 */
export function handleRequest(deps: RequestDeps, req: ClientRequest, res: ClientResponse, scheme: 'http' | 'https' = 'https'): void {
  const start = performance.now();
  const runtime = deps.runtime();
  const h2 = isH2(res);
  // HSTS is on every answer: respond() sets it on generated ones, the forwarder on proxied ones.
  // Draining h2 connections got GOAWAY instead (RFC 9113 §6.8): Connection is not an h2 header.
  // A declined h1 upgrade closes too: Node dropped what was pipelined behind it (upgrade.ts).
  const close = !h2 && (deps.draining() || declinedUpgrade(req as IncomingMessage));
  const hsts = hstsOver(runtime, scheme);
  if (close) res.setHeader('connection', 'close');
  const resolution = resolve(runtime, req, scheme);
  if (!resolution.ok) {
    refuseResolved(runtime, req, res, resolution, scheme, hsts);
    logLocal(deps, req, res, start, resolution.host, resolution.error.message, '', resolution.error.code);
    return;
  }
  // Before anything reaches an upstream; the connection closes, as the body's framing is unknown.
  // (nghttp2 already refused Transfer-Encoding on h2: only Expect is left to check there.)
  const refused = h2 ? expectationRefusal(req.headers.expect) : framingRefusal(req as IncomingMessage);
  if (refused !== undefined) {
    respond(res, refused, hsts, refused.message, true, refusalRules(runtime, req, resolution.route, resolution.host, resolution.path, scheme));
    logLocal(deps, req, res, start, resolution.host, refused.message, '', refused.code);
    return;
  }
  const { route, site } = resolution;
  if (route.internal) {
    // Reached only through X-Accel-Redirect: answered as if no route matched, under the site's rules.
    const ruled = ruledBy(site.headers, () => contextOf(req, req.headers as IncomingHttpHeaders, undefined, resolution.host, resolution.path, scheme, remoteAddr(runtime, req)));
    respondWithPage(res, site.errorPages, new EdgeError('EDGE_ERR_INTERNAL_ROUTE', 'internal route (X-Accel-Redirect only)'), hsts, ERRORS.EDGE_ERR_INTERNAL_ROUTE.text, false, undefined, ruled);
    logLocal(deps, req, res, start, resolution.host, 'internal route (X-Accel-Redirect only)', '', 'EDGE_ERR_INTERNAL_ROUTE');
    return;
  }
  if (route.action.kind === 'upstream') {
    proxy(deps, runtime, req, res, { route, site, host: resolution.host, path: resolution.path, start, close, scheme, hsts, guarded: false, ruled: null });
    return;
  }
  // The rules of the answers written here (files, their refusals and pages, the guard's), built once.
  const ruled = ruledBy(route.headers, () => contextOf(req, req.headers as IncomingHttpHeaders, route, resolution.host, resolution.path, scheme, remoteAddr(runtime, req)));
  const p: Proxied = { route, site, host: resolution.host, path: resolution.path, start, close, scheme, hsts, guarded: false, ruled };
  // Answered here (files, redirect, respond, the slash 301): the guard decides first, once; a
  // files route falling back to its upstream is then not guarded again.
  const guard = route.guard === null ? undefined : runtime.guards.of(route.guard);
  if (guard === undefined) {
    answerHere(deps, runtime, req, res, p);
    return;
  }
  const headers = { ...(req.headers as IncomingHttpHeaders) };
  sanitiseClientHeaders(headers);
  const { clientIp } = applyForwarded(headers, clientAddress(req.socket), runtime.trust, scheme);
  admitRequest(guard, deps, res, {
    method: req.method ?? '', protocol: h2 ? 'h2' : 'http/1.1', host: resolution.host, path: req.url as string, start, clientIp, label: route.label, hsts, headers,
  }, ruled, () => answerHere(deps, runtime, req, res, { ...p, guarded: true }));
}

/** What proxy() and answerHere() need of the resolved request. */
interface Proxied {
  readonly route: Route;
  readonly site: Site;
  readonly host: string;
  /** The routing path (resolve()'s). */
  readonly path: string;
  readonly start: number;
  readonly close: boolean;
  readonly scheme: 'http' | 'https';
  readonly hsts: string | null;
  /** The route's guard already admitted this request (a `files` route falling back to its upstream). */
  readonly guarded: boolean;
  /** The route's response rules for an answer written here; null for upstream routes (their shaper has them) and routes without. */
  readonly ruled: AnswerRules | null;
}

/** A files, redirect or respond route's own answer. */
function answerHere(deps: RequestDeps, runtime: Runtime, req: ClientRequest, res: ClientResponse, p: Proxied): void {
  const { route, site } = p;
  const files = route.files;
  if (route.action.kind === 'files' && files !== undefined) {
    serveFiles({
      log: deps.log, metrics: deps.metrics, hsts: p.hsts, site, route, files, host: p.host, start: p.start, clientIp: clientAddress(req.socket),
      path: withoutQuery(p.path), headers: req.headers as IncomingHttpHeaders, method: req.method ?? '', ruled: p.ruled,
      fallback: () => proxy(deps, runtime, req, res, p),
    }, req, res);
    return;
  }
  const c = p.ruled?.context ?? contextOf(req, req.headers as IncomingHttpHeaders, route, p.host, p.path, p.scheme, remoteAddr(runtime, req));
  writeAnswer(res, actionAnswer(route, c), p.hsts, p.close);
  logLocal(deps, req, res, p.start, p.host, route.action.kind === 'respond' ? 'respond' : 'redirect', c.requestId, undefined, route.accessLog);
}

/** The request goes to the route's upstream (or its files' fallback). */
function proxy(deps: RequestDeps, runtime: Runtime, req: ClientRequest, res: ClientResponse, p: Proxied): void {
  const { route, close, start, scheme, hsts } = p;
  const upstream = route.upstream;
  if (upstream === undefined) throw new Error('proxy() without an upstream'); // files-only routes never call it
  const h2 = isH2(res);
  const body = h2 ? h2BodyFraming(req as H2Request) : bodyFraming(req as IncomingMessage);
  const bodyLimit = route.bodySize ?? runtime.config.limits.bodySize;
  if (bodyLimit > 0 && !withinDeclaredLimit(req, res, runtime, p, bodyLimit)) {
    logLocal(deps, req, res, start, p.host, 'request body too large', '', 'EDGE_ERR_BODY_TOO_LARGE', route.accessLog);
    return;
  }
  const peer = clientAddress(req.socket);
  const headers: IncomingHttpHeaders = h2 ? upstreamHeaders(req as H2Request) : (req.headers as IncomingHttpHeaders);
  // RFC 9110 §10.1.1: the 100 goes out only now that the request is accepted (a refusal above
  // answers instead), and the upstream must not wait for a 100 of its own. On h2 it is an
  // interim HEADERS frame, sent only while the client still has a body to send.
  if (headers.expect !== undefined) {
    if (h2) {
      if (body !== 'none') res.writeContinue();
    } else if (req.httpVersionMinor !== 0) {
      (res as ServerResponse).writeContinue();
    }
    delete headers.expect;
  }
  sanitiseClientHeaders(headers);
  // RFC 9112 §3.2: the upstream request is HTTP/1.1 and must carry Host; an HTTP/1.0 client may omit it.
  headers.host ??= p.host;
  const { clientIp } = applyForwarded(headers, peer, runtime.trust, scheme);
  // Only routes with placeholders or rules pay for a context; the rest go as they came.
  const context = route.contextual || route.cache !== null ? contextOf(req, headers, route, p.host, p.path, scheme, clientIp) : null;
  const timeouts = route.timeouts ?? runtime.config.timeouts;
  const exchange: Exchange = {
    method: req.method ?? '',
    protocol: h2 ? 'h2' : 'http/1.1',
    host: p.host,
    clientIp,
    label: route.label,
    upstream,
    key: upstream.requestKey(clientIp),
    compress: route.compress === undefined ? undefined : offerFor(route.compress, req.method ?? '', headers, true),
    pages: p.site.errorPages,
    accel: p.site.accel
      ? (location, pairs) => serveAccel({ log: deps.log, metrics: deps.metrics, hsts, site: p.site, host: p.host, start, clientIp, ruled: route.shaper?.ruled(exchange) ?? null }, req, res, location, pairs)
      : undefined,
    hsts,
    connectTimeout: timeouts.connect,
    responseTimeout: timeouts.response,
    bodyTimeout: timeouts.idle,
    body,
    path: context === null ? req.url as string : upstreamPath(route, context, headers),
    headers,
    closeClient: close,
    accessLog: route.accessLog,
    bytes: 0,
    start,
    headersAt: 0,
    error: undefined,
    clientPath: req.url as string,
    shaper: route.shaper,
    context,
    requestId: context === null || context.requestId === '' ? undefined : context.requestId,
    tap: undefined,
    sending: undefined,
  };
  if (bodyLimit > 0 && body === 'chunked') countChunked(req, res, runtime, p, bodyLimit, exchange);
  const guard = route.guard === null || p.guarded ? undefined : runtime.guards.of(route.guard);
  if (guard === undefined) forward(deps, req, res, exchange, route, context);
  else admitRequest(guard, deps, res, exchange, route.shaper?.ruled(exchange) ?? null, () => forward(deps, req, res, exchange, route, context));
}

/** Upstream, or through the route's cache (README "Caching") when it has one: a route without `cache` pays one comparison. */
function forward(deps: RequestDeps, req: ClientRequest, res: ClientResponse, exchange: Exchange, route: Route, context: RequestContext | null): void {
  if (route.cache === null || deps.cache === undefined || context === null) deps.forwarder.web(req, res, exchange);
  else deps.cache.serve(deps.forwarder, req, res, exchange, route.cache, expand(route.cache.key, context, false) ?? '');
}

/** 404, 405 (with Allow), 400, 421: the site's header rules apply when a site was found. */
function refuseResolved(runtime: Runtime, req: ClientRequest, res: ClientResponse, resolution: Extract<Resolution, { ok: false }>, scheme: 'http' | 'https', hsts: string | null): void {
  const { site, error } = resolution;
  // A malformed request (bad Host, target or dot segments) leaves the connection untrusted.
  const close = error.code === 'EDGE_ERR_BAD_REQUEST';
  if (site?.errorPages?.pages.has(error.status) === true) {
    const allow = resolution.allow === undefined ? undefined : { allow: resolution.allow };
    const ruled = ruledBy(site.headers, () => contextOf(req, req.headers as IncomingHttpHeaders, undefined, resolution.host, req.url ?? '/', scheme, remoteAddr(runtime, req)));
    return respondWithPage(res, site.errorPages, error, hsts, error.message, close, allow, ruled);
  }
  const extra = resolution.allow === undefined ? undefined : ['allow', resolution.allow];
  const c = site?.contextual === true ? contextOf(req, req.headers as IncomingHttpHeaders, undefined, resolution.host, req.url ?? '/', scheme, remoteAddr(runtime, req)) : null;
  respondRuled(res, error, hsts, error.message, close, site?.headers ?? null, c, extra);
}

/** The client address (the peer, or past trustedProxies the right-most untrusted X-Forwarded-For hop) for an answer that goes nowhere upstream (the headers stay as they are). */
function remoteAddr(runtime: Runtime, req: ClientRequest): string {
  return applyForwarded({ 'x-forwarded-for': req.headers['x-forwarded-for'] }, clientAddress(req.socket), runtime.trust).clientIp;
}

/** The path sent upstream (README: `stripPrefix`, `rewrite`): request headers ruled, prefix stripped or path rewritten, the query kept. */
export function upstreamPath(route: Route, c: RequestContext, headers: IncomingHttpHeaders): string {
  const request = route.headers?.request;
  if (request !== undefined && request !== null) applyRequestRules(request, headers, c);
  const action = route.action;
  if (action.kind !== 'upstream') return c.uri;
  const q = c.uri.indexOf('?');
  const query = q === -1 ? '' : c.uri.slice(q + 1);
  if (action.stripPrefix) {
    const rest = c.path.slice(route.path.length);
    return `${rest.startsWith('/') ? '' : '/'}${rest}${q === -1 ? '' : `?${query}`}`;
  }
  if (action.rewrite !== null) {
    const path = expand(action.rewrite, c) ?? c.path;
    // nginx's rewrite: a replacement with its own "?" gets the client's query after "&".
    return q === -1 ? path : `${path}${path.includes('?') ? '&' : '?'}${query}`;
  }
  return c.uri;
}

/** The route's rules for a refusal written before its context exists (400, 417, 413): built only then. */
function refusalRules(runtime: Runtime, req: ClientRequest, route: Route, host: string, path: string, scheme: 'http' | 'https'): AnswerRules | null {
  return ruledBy(route.headers, () => contextOf(req, req.headers as IncomingHttpHeaders, route, host, path, scheme, remoteAddr(runtime, req)));
}

/** 413 before anything reaches an upstream when Content-Length says too much; chunked bodies are counted as they stream (countChunked). */
function withinDeclaredLimit(req: ClientRequest, res: ClientResponse, runtime: Runtime, p: Proxied, limit: number): boolean {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared <= limit) return true;
  respond(res, new EdgeError('EDGE_ERR_BODY_TOO_LARGE', `Content-Length ${declared} over ${limit}`), p.hsts, `request body larger than ${limit} bytes`, true, refusalRules(runtime, req, p.route, p.host, p.path, p.scheme));
  return false;
}

/** A chunked body is counted as it streams; past the limit the 413 goes out, and the exchange's log line carries its code. */
function countChunked(req: ClientRequest, res: ClientResponse, runtime: Runtime, p: Proxied, limit: number, exchange: Exchange): void {
  let seen = 0;
  const source = bodyOf(req);
  // Paused first, so counting does not start the flow: the body waits for its upstream connection.
  source.pause();
  const count = (chunk: Buffer): void => {
    seen += chunk.length;
    if (seen <= limit) return;
    source.off('data', count);
    const error = new EdgeError('EDGE_ERR_BODY_TOO_LARGE', `chunked body over ${limit}`);
    exchange.error = error;
    respond(res, error, p.hsts, `request body larger than ${limit} bytes`, true, refusalRules(runtime, req, p.route, p.host, p.path, p.scheme));
    // No more of it upstream. On h2 the stream itself carries the 413 being written, so it is
    // only paused; respond() closes it once the answer is out.
    if (isH2(res)) source.pause();
    else source.destroy();
  };
  source.on('data', count);
}

/** `line` false: the route's `accessLog: false` (the answer is still counted). */
function logLocal(deps: RequestDeps, req: ClientRequest, res: ClientResponse, start: number, host: string, reason: string, requestId = '', code?: EdgeErrorCode, line = true): void {
  const protocol = protocolOf(req);
  deps.metrics.request('-', res.statusCode, protocol);
  if (!line) return;
  deps.log.info({
    method: req.method, protocol, host, path: req.url, status: res.statusCode, durationMs: round(performance.now() - start),
    clientIp: clientAddress(req.socket), target: null, bytes: 0, reason, ...(requestId === '' ? {} : { requestId }), ...(code === undefined ? {} : { code }),
    [REQUEST_HEADERS]: req.headers,
  }, 'request');
}

/** The one log line per proxied request, written when the client's response closes. */
export function logExchange(deps: Pick<RequestDeps, 'log' | 'metrics'> & { readonly exchangeLine: ExchangeLineWriter }, exchange: Exchange, res: ClientResponse): void {
  const error = exchange.error;
  const status = res.headersSent ? res.statusCode : error?.status ?? 0;
  deps.metrics.request(exchange.label, status, exchange.protocol);
  if (exchange.headersAt > 0) deps.metrics.upstreamLatency(exchange.upstream.name, (exchange.headersAt - exchange.start) / 1000);
  const durationMs = round(performance.now() - exchange.start);
  const target = exchange.sending?.target?.id ?? null;
  const aborted = !responseComplete(res);
  // At info even when it failed: the warning is per cause, rate-limited (hooks.ts).
  if (!exchange.accessLog) return;
  // Written from these values (access-line.ts); pino writes the same line when the writer declines it.
  if (deps.exchangeLine(exchange, status, durationMs, target, aborted, error)) return;
  const fields: ExchangeLine = {
    method: exchange.method, protocol: exchange.protocol, host: exchange.host, path: exchange.clientPath, status, durationMs,
    clientIp: exchange.clientIp, target, bytes: exchange.bytes,
  };
  // The optional fields are added in place, in the line's order: no object made and spread per field.
  if (aborted) fields.aborted = true;
  if (error !== undefined) {
    fields.err = error.message;
    fields.code = error.code;
  }
  if (exchange.requestId !== undefined) fields.requestId = exchange.requestId;
  fields[REQUEST_HEADERS] = exchange.headers;
  deps.log.info(fields, 'request');
}

/** A proxied request's access line, in the order its JSON is written. */
interface ExchangeLine {
  readonly method: string;
  readonly protocol: string;
  readonly host: string;
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  readonly clientIp: string;
  readonly target: string | null;
  readonly bytes: number;
  aborted?: true;
  err?: string;
  code?: EdgeErrorCode;
  requestId?: string;
  [REQUEST_HEADERS]?: IncomingHttpHeaders;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
