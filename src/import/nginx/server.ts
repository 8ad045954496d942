import type { Directive } from './parse.js';
import { childScope, nearest, nearestOne, type Scope } from './scope.js';
import { type Ctx } from './context.js';
import { condition, isHttpsRedirect, returnAction } from './actions.js';
import { headerNames, requestHeaders, responseHeaders, responseValue } from './headers.js';
import { locationRoutes, type RouteOut, type SiteEnv } from './location.js';
import { readListen, readNames, type Listen } from './listen.js';
import { ImportReport } from './report.js';
import { jsRegex, capturesOf, toTemplate } from './placeholders.js';

/** One nginx `server`, read enough to group it with the others. */
export interface ServerInfo {
  readonly scope: Scope;
  readonly hosts: string[];
  readonly catchAll: boolean;
  readonly listens: Listen[];
  readonly https: boolean;
  readonly http: boolean;
}

export function readServer(scope: Scope, ctx: Ctx): ServerInfo {
  ctx.consumed.add(scope.directive as Directive);
  const sslOn = nearestOne(scope, 'ssl')?.args[0] === 'on';
  const listenDs = scope.directives.filter((d) => d.name === 'listen');
  const listens = (listenDs.length === 0 ? [{ name: 'listen', args: ['80'], file: scope.directive?.file ?? '', line: scope.directive?.line ?? 0, col: 0 }] : listenDs)
    .map((d) => readListen(d, sslOn, ctx)).filter((l): l is Listen => l !== undefined);
  const { hosts, catchAll } = readNames(scope.directives.filter((d) => d.name === 'server_name'), ctx);
  return { scope, hosts, catchAll, listens, https: listens.some((l) => l.ssl), http: listens.some((l) => !l.ssl) };
}

/** The http → https redirect idiom of a plain-HTTP server (certbot's `if ($host = …)` lines and `return 404`, a bare `return 301 https://$host$request_uri`, or the same in `location /`). */
export function redirectsToHttps(s: ServerInfo, ctx: Ctx): { to: string | undefined; webroot: string | undefined } | undefined {
  let redirect: Directive | undefined;
  let webroot: string | undefined;
  const used: Directive[] = [];
  for (const d of s.scope.directives) {
    if (d.name === 'listen' || d.name === 'server_name' || ctx.consumed.has(d)) continue;
    if ((d.name === 'return' || d.name === 'rewrite') && isHttpsRedirect(d, s.hosts)) { redirect ??= d; used.push(d); continue; }
    if (d.name === 'return' && d.args[0] === '404' && redirect !== undefined) { used.push(d); continue; }
    if (d.name === 'if') {
      const c = condition(d);
      const inner = d.block?.[0];
      if (c?.variable === '$host' && c.op === '=' && d.block?.length === 1 && inner !== undefined && isHttpsRedirect(inner, [c.value.toLowerCase()])) {
        redirect ??= inner; used.push(d, inner); continue;
      }
      return undefined;
    }
    if (d.name === 'location') {
      const body = d.block ?? [];
      const only = body[0];
      if (d.args.at(-1) === '/' && body.length === 1 && only !== undefined && isHttpsRedirect(only, s.hosts)) { redirect ??= only; used.push(d, only); continue; }
      const root = body.find((x) => x.name === 'root');
      // certbot's webroot (`location /.well-known/acme-challenge/ { root /var/www/certbot; }`): redirect.acmeWebroot.
      if (/\.well-known/.test(d.args.at(-1) ?? '') && body.every((x) => ['root', 'allow', 'default_type', 'try_files'].includes(x.name))) {
        webroot ??= root?.args[0]; used.push(d, ...body); continue;
      }
      return undefined;
    }
    if (['access_log', 'error_log', 'include', 'add_header', 'server_tokens'].includes(d.name)) continue;
    return undefined;
  }
  if (redirect === undefined) return undefined;
  for (const d of used) ctx.consumed.add(d);
  const to = redirect.name === 'return' ? redirect.args.at(-1) : redirect.args[1];
  const host = /^https:\/\/([^/$]+)/.exec(to ?? '')?.[1];
  return { to: host === undefined ? undefined : host.toLowerCase(), webroot };
}

/** The server-level `if` that sends plain HTTP to https in a server listening on both. */
function schemeRedirect(d: Directive): boolean {
  const c = condition(d);
  const inner = d.block?.[0];
  const http = (c?.variable === '$scheme' && ((c.op === '=' && c.value === 'http') || (c.op === '!=' && c.value === 'https')))
    || (c?.variable === '$https' && c.op === '!=' && c.value === 'on');
  return http && d.block?.length === 1 && inner !== undefined && isHttpsRedirect(inner, ['$host']);
}

/** A server (with its plain-HTTP twin, if any) → one site. */
export function buildSite(s: ServerInfo, ctx: Ctx, twin: ServerInfo | undefined): Record<string, unknown> | undefined {
  const server = s.scope;
  const literals = new Map(ctx.literals);
  if (s.hosts[0] !== undefined) literals.set('server_name', s.hosts[0]);
  const local: Ctx = { ...ctx, literals };
  const site: Record<string, unknown> = { hosts: s.hosts };
  const routes: RouteOut[] = [];
  let redirectsPlain = false;
  for (const d of server.directives) {
    if (local.consumed.has(d)) continue;
    if (d.name === 'set' && !(d.args[1] ?? '$').includes('$')) { literals.set((d.args[0] ?? '').replace(/^\$/, ''), d.args[1] ?? ''); local.consumed.add(d); }
    else if (d.name === 'if' && schemeRedirect(d)) { redirectsPlain = true; for (const x of [d, ...(d.block ?? [])]) local.consumed.add(x); }
    else if (d.name === 'if') hostGuard(d, s, local);
    else if (d.name === 'rewrite') serverRewrite(d, local, routes);
    else if (d.name === 'return') {
      const action = returnAction(d, local);
      if (action === undefined) continue;
      for (const l of server.directives.filter((x) => x.name === 'location')) local.report.difference(l, 'never reached: the server-level return answers first');
      if ('redirect' in action) return { hosts: s.hosts, redirect: action.redirect };
      return { hosts: s.hosts, routes: [{ path: '/', ...action }] };
    }
  }
  const request = requestHeaders(nearest(server, 'proxy_set_header'), local);
  const adds = nearest(server, 'add_header');
  const response = responseValue(responseHeaders(adds, nearest(server, 'proxy_hide_header'), local));
  if (request !== undefined || response !== undefined) site.headers = { ...(request === undefined ? {} : { request }), ...(response === undefined ? {} : { response }) };
  const env: SiteEnv = {
    ctx: local,
    label: (s.hosts[0] ?? 'app').replace(/^\*\./, '').split('.')[0] ?? 'app',
    siteResponseNames: headerNames(adds),
    errorPages: (value: unknown) => { site.errorPages ??= value; },
  };
  // A location content.ts claims (an auth_request target, a try_files @fallback) is no route of
  // its own; a claim can come from a later location, so every location is asked first (quietly).
  const claimed = new Set<Directive>();
  const quiet = new ImportReport();
  const ask = (scope: Scope): void => {
    for (const d of local.content.route(scope, quiet).consumed) if (d.name === 'location') claimed.add(d);
    for (const d of scope.directives) if (d.name === 'location') ask(childScope(scope, d));
  };
  for (const d of server.directives) if (d.name === 'location') ask(childScope(server, d));
  for (const d of claimed) local.consumed.add(d);
  if (twin !== undefined) {
    // Requests on :80 take the plain server's own routes first (scheme: http), as nginx answers them there.
    const plain: RouteOut[] = [];
    for (const d of twin.scope.directives) if (d.name === 'location' && !local.consumed.has(d)) locationRoutes(childScope(twin.scope, d), env, plain);
    routes.push(...plain.map((r) => ({ ...r, scheme: 'http' })));
    site.plainHttp = 'serve';
  } else if (s.http && !redirectsPlain) site.plainHttp = 'serve';
  for (const d of server.directives) if (d.name === 'location' && !claimed.has(d)) locationRoutes(childScope(server, d), env, routes);
  if (routes.length === 0) { local.unsupported(server.directive as Directive, 'no location or return that Gatehouse can serve'); return undefined; }
  site.routes = routes;
  return site;
}

/** `if ($host != example.com) { return 444; }`: unknown hosts already get 421 from Gatehouse. */
function hostGuard(d: Directive, s: ServerInfo, ctx: Ctx): void {
  const c = condition(d);
  ctx.consumed.add(d);
  for (const x of d.block ?? []) ctx.consumed.add(x);
  if (c?.variable === '$host' && c.op === '!=' && s.hosts.includes(c.value.toLowerCase()) && d.block?.[0]?.name === 'return') {
    ctx.report.difference(d, 'a Host this site does not serve gets 421 from Gatehouse');
    return;
  }
  ctx.report.unsupported(d, 'an if that is not one of the known idioms (scheme redirect, certbot host redirect, host guard)');
}

/** Server-level `rewrite R URL permanent|redirect` → a regex redirect route; `last`/`break` re-route, which Gatehouse does not. */
function serverRewrite(d: Directive, ctx: Ctx, routes: RouteOut[]): void {
  ctx.consumed.add(d);
  const [re = '', replacement = '', flag] = d.args;
  const external = /^(https?:\/\/|\$scheme)/.test(replacement);
  if (flag !== 'permanent' && flag !== 'redirect' && !external) {
    ctx.report.unsupported(d, 'a server-level rewrite that re-routes internally; Gatehouse routes a request once');
    return;
  }
  const js = jsRegex(re);
  if (!js.ok) { ctx.report.unsupported(d, js.why); return; }
  const dropsArgs = replacement.endsWith('?');
  const t = toTemplate(dropsArgs ? replacement.slice(0, -1) : replacement, capturesOf(re), ctx.literals);
  if (!t.ok) { ctx.report.unsupported(d, t.why); return; }
  ctx.report.difference(d, `a regex route: exact and ^~ locations win over it (nginx rewrites before any location)${dropsArgs ? '' : '; the query is not appended'}`);
  routes.push({ regex: js.text, redirect: { to: t.text, status: flag === 'permanent' ? 301 : 302 } });
}
