import type { Directive } from './parse.js';
import { nearest, nearestOne, type Scope } from './scope.js';
import { allScopes, flag, hasVariable, serverOf, type Ctx } from './content-util.js';
import { fileFor } from './content-where.js';
import { isSignInPage } from './content-auth.js';

/** One location's error pages as Gatehouse can say them: status → file. */
type Pages = Map<number, string>;

/** The error_page lines in force at `scope`, read into pages; lines Gatehouse cannot say are reported once. */
function pagesAt(ctx: Ctx, scope: Scope, report: boolean): { pages: Pages; directives: Directive[] } {
  const pages: Pages = new Map();
  const directives = nearest(scope, 'error_page');
  for (const d of directives) {
    if (isSignInPage(scope, d)) continue; // auth.forward.signIn's (content-auth.ts)
    const uri = d.args.at(-1) ?? '';
    const response = d.args.find((a) => a.startsWith('='));
    const codes = d.args.filter((a) => /^\d{3}$/.test(a)).map(Number);
    const why = response !== undefined
      ? `"${response}" answers with another status (or the routed page's): Gatehouse's error page keeps the status${codes.includes(401) && nearestOne(scope, 'auth_request') !== undefined ? '; for a login redirect, `error_page 401 =302 https://…` alone becomes auth.forward.signIn' : ''}`
      : uri.startsWith('@') ? `${uri} is a named location nginx routes to: Gatehouse's error page is a file`
        : /^https?:\/\//.test(uri) || hasVariable(uri) ? 'a redirect: Gatehouse\'s error page is a file'
          : codes.includes(497) ? 'plain HTTP to the TLS port: Gatehouse closes such connections'
            : undefined;
    const file = why === undefined ? fileFor(scope, uri) : { why };
    if (typeof file !== 'string') {
      if (report) ctx.report.unsupported(d, file.why);
      continue;
    }
    if (report) ctx.consumed.add(d);
    for (const code of codes) if (code >= 400 && code <= 599 && !pages.has(code)) pages.set(code, file);
  }
  return { pages, directives };
}

const samePages = (a: Pages, b: Pages): boolean => a.size === b.size && [...a].every(([k, v]) => b.get(k) === v);

/** proxy_intercept_errors in force at a location that proxies. */
const intercepts = (s: Scope): boolean => s.directives.some((d) => d.name === 'proxy_pass') && flag(nearestOne(s, 'proxy_intercept_errors')) === true;

/**
 * error_page → `errorPages`, which Gatehouse keeps per site (README "Serving files"). Every route of one server
 * carries the same value, the pages of all its locations (the first one for a status wins), for
 * the core to lift onto the site; a location whose own pages differ from that says so.
 */
export function translateErrorPages(ctx: Ctx, route: Record<string, unknown>): void {
  const { scope, report, consumed } = ctx;
  const server = serverOf(scope) ?? scope;
  const mine = pagesAt(ctx, scope, true);
  const site: Pages = new Map();
  let upstream = false;
  for (const s of allScopes(server).filter((x) => x.kind === 'location' || x === server)) {
    for (const [code, file] of pagesAt(ctx, s, false).pages) if (!site.has(code)) site.set(code, file);
    upstream ||= intercepts(s);
  }
  const intercept = nearestOne(scope, 'proxy_intercept_errors');
  if (intercept !== undefined) consumed.add(intercept);
  if (site.size === 0) {
    if (intercept !== undefined && flag(intercept) === true) report.unsupported(intercept, 'no error_page here Gatehouse can serve, so nothing replaces the upstream\'s answers');
    return;
  }
  const at = mine.directives[0] ?? scope.directive;
  if (!samePages(mine.pages, site) && at !== undefined) {
    report.difference(at, 'Gatehouse\'s error pages are one set per site: this location gets the server\'s whole set (the first page named for each status)');
  }
  if (upstream && !intercepts(scope) && scope.directives.some((d) => d.name === 'proxy_pass') && scope.directive !== undefined) {
    report.difference(scope.directive, 'the upstream\'s own error answers get the site\'s error pages here too (proxy_intercept_errors is on elsewhere in this server)');
  }
  const byFile = new Map<string, number[]>();
  for (const [code, file] of site) byFile.set(file, [...(byFile.get(file) ?? []), code]);
  const errorPages: Record<string, unknown> = {};
  for (const [file, codes] of byFile) errorPages[codes.join(' ')] = file;
  if (upstream) errorPages.upstream = true;
  route.errorPages = errorPages;
}
