import type { IncomingHttpHeaders } from 'node:http';
import { EdgeError, ERRORS, type EdgeErrorCode } from '../errors.js';
import type { FilesConfig } from '../config/files.js';
import { offerFor } from '../compress/policy.js';
import { lookup, type Lookup } from '../files/lookup.js';
import { sendFile, type SendResult } from '../files/send.js';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log.js';
import { respondWithPage } from './error-pages.js';
import { ruledValue, ruleResponse, type AnswerRules } from './header-rules.js';
import { isH2, protocolOf, type ClientRequest, type ClientResponse } from '../http/message.js';
import type { Route, Site } from './sites.js';
import { REQUEST_HEADERS } from '../access-log.js';

/** What serving a file needs from the request pipeline. */
export interface FilesStep {
  readonly log: Logger;
  readonly metrics: Metrics;
  /** null on :80 (`plainHttp: serve`): no HSTS over plain HTTP. */
  readonly hsts: string | null;
  readonly site: Site;
  readonly route: Route;
  readonly files: FilesConfig;
  readonly host: string;
  readonly start: number;
  /** Taken when the request arrived: an h2 session's socket cannot be read once the client left. */
  readonly clientIp: string;
  /** The routing path (dot segments removed, still percent-encoded), without the query. */
  readonly path: string;
  /** Headers that decide the answer: the client's, or the upstream's request for X-Accel-Redirect. */
  readonly headers: IncomingHttpHeaders;
  readonly method: string;
  /** The route's header rules (an X-Accel-Redirect's: the requesting route's); null: none. */
  readonly ruled: AnswerRules | null;
  /** The upstream's Content-Type, kept for an X-Accel-Redirect answer (nginx does). */
  readonly contentType?: string;
  /** No file matched and the route has a fallback upstream: proxy the request instead. */
  fallback(): void;
}

/**
 * A `files` route's answer (README "Serving files"): GET and HEAD only (others go to the fallback, else
 * 405); lookup under the root, then the file, a 301 for a directory without "/", or 404. One log
 * line per answer, with the code of any refusal.
 */
export function serveFiles(step: FilesStep, req: ClientRequest, res: ClientResponse): void {
  const { method, files, ruled } = step;
  // HSTS on every answer (README "What it does, and why"): the file's, the 304, the 301 and the refusals alike.
  if (step.hsts !== null) res.setHeader('strict-transport-security', step.hsts);
  if (method !== 'GET' && method !== 'HEAD') {
    if (files.fallback !== null) return step.fallback();
    refuse(step, req, res, 'EDGE_ERR_METHOD_NOT_ALLOWED', `${method} on a files route`, { allow: 'GET, HEAD' });
    return;
  }
  const acceptEncoding = step.headers['accept-encoding'];
  let found: Lookup;
  try {
    found = lookup(files, { path: step.path, prefix: step.route.path, acceptEncoding });
  } catch (err) {
    failed(step, req, res, err);
    return;
  }
  if (found.kind === 'none') {
    if (files.fallback !== null) return step.fallback();
    const code = found.unsafe ? 'EDGE_ERR_FILE_UNSAFE' : 'EDGE_ERR_FILE_NOT_FOUND';
    return refuse(step, req, res, code, found.unsafe ? 'path refused by the file rules' : 'no such file');
  }
  if (found.kind === 'directory') return redirectToDirectory(step, req, res);
  sendFile(res, isH2(res) ? res : undefined, found, {
    method,
    headers: step.headers,
    precompressed: files.precompressed.length > 0,
    ...(step.contentType === undefined ? {} : { contentType: step.contentType }),
    offer: step.route.compress === undefined ? undefined : offerFor(step.route.compress, method, step.headers, false),
    rule: ruled === null ? undefined : (r: ClientResponse, status: number) => ruleResponse(r, status, ruled),
    // Only a route that both compresses and has rules asks what Cache-Control they give.
    cacheControl: ruled === null || step.route.compress === undefined ? undefined : ruledValue(ruled, 200, 'cache-control'),
  }).then((result) => {
    if ('refuse' in result) return refuse(step, req, res, result.refuse, ERRORS[result.refuse].text, result.headers);
    log(step, req, res.statusCode, result);
  }, (err: unknown) => failed(step, req, res, err));
}

function failed(step: FilesStep, req: ClientRequest, res: ClientResponse, err: unknown): void {
  refuse(step, req, res, 'EDGE_ERR_INTERNAL', `file answer failed: ${err instanceof Error ? err.message : String(err)}`);
}

/** A directory without its "/" → 301 to it, the query kept (nginx does the same). */
function redirectToDirectory(step: FilesStep, req: ClientRequest, res: ClientResponse): void {
  const url = req.url ?? '';
  const q = url.indexOf('?');
  const location = `${step.path}/${q === -1 ? '' : url.slice(q)}`;
  res.statusCode = 301;
  res.setHeader('location', location);
  res.setHeader('content-length', 0);
  if (step.hsts !== null) res.setHeader('strict-transport-security', step.hsts);
  if (step.ruled !== null) ruleResponse(res, 301, step.ruled);
  res.end();
  log(step, req, 301, { status: 301, bytes: 0, aborted: false });
}

function refuse(step: FilesStep, req: ClientRequest, res: ClientResponse, code: EdgeErrorCode, reason: string, extra?: Readonly<Record<string, string>>): void {
  const status = ERRORS[code].status;
  respondWithPage(res, step.site.errorPages, new EdgeError(code, reason), step.hsts, ERRORS[code].text, false, extra, step.ruled);
  log(step, req, status, undefined, code, reason);
}

function log(step: FilesStep, req: ClientRequest, status: number, result: Extract<SendResult, { status: number }> | undefined, code?: EdgeErrorCode, reason?: string): void {
  const protocol = protocolOf(req);
  step.metrics.request(step.route.label, status, protocol);
  if (!step.route.accessLog) return;
  step.log.info({
    method: req.method, protocol, host: step.host, path: req.url, status, durationMs: Math.round((performance.now() - step.start) * 100) / 100,
    clientIp: step.clientIp, target: 'files', bytes: result?.bytes ?? 0,
    ...(result?.aborted === true ? { aborted: true } : {}),
    ...(code === undefined ? {} : { code, reason }),
    [REQUEST_HEADERS]: req.headers,
  }, 'request');
}
