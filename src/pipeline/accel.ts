import type { IncomingHttpHeaders } from 'node:http';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log.js';
import { serveFiles } from './files.js';
import { routingPath } from './path.js';
import type { ClientRequest, ClientResponse } from '../http/message.js';
import { respondWithPage } from './error-pages.js';
import { EdgeError, ERRORS } from '../errors.js';
import type { AnswerRules } from './header-rules.js';
import { matchRoute, MethodMismatch, type Site } from './sites.js';

/** Upstream fields that describe the upstream's own body, not the file's (nginx drops them too). */
const FILE_OWNED = new Set([
  'content-length', 'content-range', 'accept-ranges', 'content-encoding', 'etag', 'last-modified', 'transfer-encoding',
  'x-accel-redirect', 'x-accel-buffering', 'x-accel-charset', 'x-accel-expires', 'x-accel-limit-rate', 'strict-transport-security', 'vary',
]);

export interface AccelContext {
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly hsts: string | null;
  readonly site: Site;
  readonly host: string;
  readonly start: number;
  readonly clientIp: string;
  /** The requesting route's header rules: they, not the internal route's, shape the answer (as its proxied answers). */
  readonly ruled: AnswerRules | null;
}

/**
 * README "Serving files" (X-Accel-Redirect): an upstream answer with `X-Accel-Redirect: /path` is replaced by what the
 * `internal` route for that path serves: the upstream's other headers kept, its Content-Type
 * too when it sent one (as nginx), framing and validators the file's. The client's own
 * conditional and Range fields apply to the file. A path no internal files route serves: 404.
 */
export function serveAccel(ctx: AccelContext, req: ClientRequest, res: ClientResponse, location: string, pairs: readonly string[]): void {
  const q = location.indexOf('?');
  const routed = location.startsWith('/') ? routingPath(q === -1 ? location : location.slice(0, q)) : null;
  const matched = routed === null ? undefined : matchRoute(ctx.site, routed, 'GET', 'https');
  const route = matched instanceof MethodMismatch ? undefined : matched;
  if (routed === null || route === undefined || !route.internal || route.files === undefined) {
    respondWithPage(res, ctx.site.errorPages, new EdgeError('EDGE_ERR_FILE_NOT_FOUND', location), ctx.hsts, ERRORS.EDGE_ERR_FILE_NOT_FOUND.text, false, undefined, ctx.ruled);
    ctx.log.warn({ host: ctx.host, path: req.url, location, code: 'EDGE_ERR_FILE_NOT_FOUND' }, 'X-Accel-Redirect names no internal files route');
    return;
  }
  let contentType: string | undefined;
  const kept = new Map<string, string[]>();
  for (let i = 0; i < pairs.length; i += 2) {
    const name = (pairs[i] as string).toLowerCase();
    if (name === 'content-type') contentType = pairs[i + 1];
    else if (!FILE_OWNED.has(name)) kept.set(name, [...(kept.get(name) ?? []), pairs[i + 1] as string]);
  }
  for (const [name, values] of kept) res.setHeader(name, values.length === 1 ? values[0] as string : values);
  const method = req.method === 'HEAD' ? 'HEAD' : 'GET';
  serveFiles({
    log: ctx.log, metrics: ctx.metrics, hsts: ctx.hsts, site: ctx.site, route, files: { ...route.files, fallback: null },
    host: ctx.host, start: ctx.start, clientIp: ctx.clientIp, path: routed, headers: req.headers as IncomingHttpHeaders, method,
    fallback: () => undefined, ruled: ctx.ruled,
    ...(contentType === undefined ? {} : { contentType }),
  }, req, res);
}
