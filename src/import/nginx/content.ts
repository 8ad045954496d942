import type { Directive } from './parse.js';
import type { ImportReport } from './report.js';
import { nearest, type Scope } from './scope.js';
import { reporting, type Ctx } from './content-util.js';
import { translateFiles } from './content-files.js';
import { translateCompress } from './content-compress.js';
import { checkSatisfy, translateAccess } from './content-access.js';
import { translateAuth } from './content-auth.js';
import { translateRateLimit, translateRateLimits } from './content-ratelimit.js';
import { translateCache, translateCacheStore } from './content-cache.js';
import { translateErrorPages } from './content-errors.js';

/**
 * The route keys of one `location` (or of a `server` without locations, read as `location /`):
 * files (root/alias, index, try_files, gzip_static), compress, errorPages (the site's: identical
 * on every route of a server, for the caller to lift onto the site), access, auth, rateLimit,
 * cache. Inherited directives count (nginx's merge rules, `nearest`); everything carried over is
 * in `consumed` (the `location` lines of an auth_request target or a try_files `@fallback` too,
 * so the caller makes no route of them), and what is not carried exactly is in `report` (and in
 * `consumed`, so it is not listed twice).
 */
export function translateContent(scope: Scope, report: ImportReport): { route: Record<string, unknown>; consumed: Set<Directive> } {
  const consumed = new Set<Directive>();
  const ctx: Ctx = { scope, report: reporting(report, consumed), consumed };
  const route: Record<string, unknown> = {};
  translateFiles(ctx, route);
  translateCompress(ctx, route);
  translateErrorPages(ctx, route);
  translateAccess(ctx, route);
  translateAuth(ctx, route);
  checkSatisfy(ctx, route);
  translateRateLimit(ctx, route);
  translateCache(ctx, route);
  translateAccessLog(ctx, route);
  return { route, consumed: ctx.consumed };
}

/** `access_log off` in force here (the location's, else the server's) → `accessLog: false`; a log file stays meaningless (Gatehouse logs to stdout). */
function translateAccessLog(ctx: Ctx, route: Record<string, unknown>): void {
  const off = nearest(ctx.scope, 'access_log').find((d) => d.args[0] === 'off');
  if (off === undefined) return;
  ctx.consumed.add(off);
  route.accessLog = false;
}

/**
 * Top-level keys from the `http` context: `rateLimits` (limit_req_zone, with the bursts its
 * limit_req lines give) and the `cache` store (proxy_cache_path).
 */
export function translateHttpLevel(http: Scope, report: ImportReport): { top: Record<string, unknown>; consumed: Set<Directive> } {
  const consumed = new Set<Directive>();
  const said = reporting(report, consumed);
  const top: Record<string, unknown> = {};
  const rateLimits = translateRateLimits(http, said, consumed);
  if (rateLimits !== undefined) top.rateLimits = rateLimits;
  const cache = translateCacheStore(http, said, consumed);
  if (cache !== undefined) top.cache = cache;
  return { top, consumed };
}
