import type { RouteCacheConfig } from '../config/cache.js';
import type { RouteGuardConfig } from '../config/guard.js';
import type { CompressConfig, ErrorPagesConfig, FilesConfig } from '../config/files.js';
import type { HeaderEntry, HeaderRules, RedirectStatus, RouteConfig, RouteTimeouts, SiteConfig } from '../config/types.js';
import { compileRouteRegex } from '../config/regex.js';
import type { Template } from '../config/template.js';
import type { Upstream } from '../upstream/targets.js';
import { compileOrigins, type OriginMatcher } from './origin.js';
import { RouteShaper } from './shaper.js';

/** A route's action with everything resolved at load (README "Routes, headers, redirects: coming from nginx"). `slash` is nginx's 301 from "/p" to "/p/". */
export type Action =
  | { readonly kind: 'upstream'; readonly upstream: Upstream; readonly stripPrefix: boolean; readonly rewrite: Template | null; readonly rewriteLocation: boolean }
  | { readonly kind: 'redirect'; readonly to: Template; readonly status: RedirectStatus; readonly absolute: boolean }
  | { readonly kind: 'respond'; readonly status: number; readonly body: Template | null; readonly headers: readonly HeaderEntry[] }
  | { readonly kind: 'files' }
  | { readonly kind: 'slash' };

/** A route with everything the request path needs, resolved at load time. */
export interface Route {
  /** The prefix or exact path, or the regex source (what logs, metrics and `route` show). */
  readonly path: string;
  /** Where the request is proxied: the route's upstream, or its files' fallback; undefined for files alone. */
  readonly upstream: Upstream | undefined;
  readonly files: FilesConfig | undefined;
  readonly compress: CompressConfig | undefined;
  /** Reached only through an upstream's X-Accel-Redirect (README "Serving files"). */
  readonly internal: boolean;
  /** false: no access line for its requests (nginx's `access_log off`). */
  readonly accessLog: boolean;
  readonly kind: 'prefix' | 'exact' | 'regex';
  readonly regex: RegExp | null;
  readonly overridesRegex: boolean;
  readonly methods: ReadonlySet<string> | null;
  readonly scheme: 'http' | 'https' | null;
  readonly action: Action;
  readonly headers: HeaderRules | null;
  readonly bodySize: number | null;
  readonly timeouts: RouteTimeouts | null;
  /** A placeholder or header rule needs the request's context (built per request only then). */
  readonly contextual: boolean;
  readonly usesRequestId: boolean;
  readonly origins: OriginMatcher;
  readonly allowMissingOrigin: boolean;
  /** Metrics/log label: "host/path" of the site's first host. */
  readonly label: string;
  /** access/auth/rateLimit; null (the common case) skips the guard at the cost of one comparison. */
  /** The route's response cache (cache/); null: the request path never looks at the store. */
  readonly cache: RouteCacheConfig | null;
  readonly guard: RouteGuardConfig | null;
  /** Upstream routes and a files route's fallback: the answer's edits (Location rewriting, header rules); null: none. */
  readonly shaper: RouteShaper | null;
}

/** The path fits some route, but no route fits the method: 405 with this Allow (RFC 9110 §15.5.6). */
export class MethodMismatch {
  constructor(readonly allow: string) {}
}

export interface Site {
  readonly index: number;
  readonly hosts: readonly string[];
  /** Every route in file order (for `route` and `check`). */
  readonly routes: readonly Route[];
  readonly errorPages: ErrorPagesConfig | undefined;
  /** Some route is `internal`: upstream answers are checked for X-Accel-Redirect. */
  readonly accel: boolean;
  /** Prefix routes, longest first. */
  readonly prefixes: readonly Route[];
  readonly exact: ReadonlyMap<string, readonly Route[]> | null;
  readonly regexes: readonly Route[];
  /** Only unconditioned prefix routes: selection is the longest-prefix loop and nothing else. */
  readonly simple: boolean;
  readonly redirect: SiteConfig['redirect'];
  readonly plainHttp: SiteConfig['plainHttp'];
  readonly headers: HeaderRules | null;
  readonly contextual: boolean;
}

/** Host → site, built once per config: exact names in a Map, then "*.suffix" by parent domain. */
export class SiteTable {
  readonly sites: readonly Site[];
  readonly #exact = new Map<string, Site>();
  readonly #wildcard = new Map<string, Site>();
  /** The first configured host: where the redirect listener sends unknown Hosts. */
  readonly firstHost: string;

  constructor(configs: readonly SiteConfig[], upstreams: ReadonlyMap<string, Upstream>) {
    this.sites = configs.map((c, index) => compileSite(c, index, upstreams));
    for (const site of this.sites) {
      for (const host of site.hosts) {
        if (host.startsWith('*.')) this.#wildcard.set(host.slice(2), site);
        else this.#exact.set(host, site);
      }
    }
    const first = configs[0]?.hosts[0] ?? 'localhost';
    this.firstHost = first.startsWith('*.') ? first.slice(2) : first;
  }

  /** "*.example.com" matches any depth below example.com (like nginx's "*.example.com"), never example.com itself. */
  match(host: string): Site | undefined {
    const exact = this.#exact.get(host);
    if (exact !== undefined || this.#wildcard.size === 0) return exact;
    for (let dot = host.indexOf('.'); dot !== -1; dot = host.indexOf('.', dot + 1)) {
      const site = this.#wildcard.get(host.slice(dot + 1));
      if (site !== undefined) return site;
    }
    return undefined;
  }
}

function compileSite(config: SiteConfig, index: number, upstreams: ReadonlyMap<string, Upstream>): Site {
  const routes = config.routes.map((r) => compileRoute(r, config.hosts[0] ?? '', upstreams));
  // A site-wide redirect is one prefix route for "/" that every request takes.
  if (config.redirect !== null) routes.push(compileRoute(siteRedirectRoute(config), config.hosts[0] ?? '', upstreams));
  const prefixes = routes.filter((r) => r.kind === 'prefix').sort((a, b) => b.path.length - a.path.length);
  const regexes = routes.filter((r) => r.kind === 'regex');
  const exact = new Map<string, Route[]>();
  for (const r of routes) if (r.kind === 'exact') exact.set(r.path, [...(exact.get(r.path) ?? []), r]);
  // nginx answers "/p" with 301 to "/p/" for a proxied "location /p/" (unless "= /p" exists):
  // an exact entry, so it wins over regexes as nginx's does.
  for (const r of prefixes) {
    if ((r.action.kind !== 'upstream' && r.action.kind !== 'files') || !r.path.endsWith('/') || r.path.length < 2) continue;
    const bare = r.path.slice(0, -1);
    if (routes.some((x) => x.kind === 'exact' && x.path === bare)) continue;
    exact.set(bare, [...(exact.get(bare) ?? []), { ...r, kind: 'exact', path: bare, action: { kind: 'slash' }, headers: r.headers }]);
  }
  const simple = exact.size === 0 && regexes.length === 0 && routes.every((r) => r.methods === null && r.scheme === null);
  const contextual = config.redirect !== null || templatesUse(config.headers);
  return {
    index, hosts: config.hosts, routes, prefixes, exact: exact.size === 0 ? null : exact, regexes, simple,
    redirect: config.redirect, plainHttp: config.plainHttp, headers: config.headers, contextual,
    errorPages: config.errorPages ?? undefined, accel: routes.some((r) => r.internal),
  };
}

function siteRedirectRoute(config: SiteConfig): RouteConfig {
  return {
    path: '/', match: { kind: 'prefix', path: '/', overridesRegex: false }, methods: null, scheme: null,
    action: { kind: 'redirect', ...(config.redirect as NonNullable<SiteConfig['redirect']>) },
    headers: config.headers, bodySize: null, timeouts: null, websocket: { origins: [], allowMissingOrigin: false },
    guard: null, files: null, compress: null, internal: false, accessLog: true, cache: null,
  };
}

function templatesUse(rules: HeaderRules | null): boolean {
  return rules !== null && (rules.request !== null || rules.response.length > 0);
}

function compileRoute(route: RouteConfig, host: string, upstreams: ReadonlyMap<string, Upstream>): Route {
  const a = route.action;
  let action: Action;
  if (a.kind === 'upstream') {
    const upstream = upstreams.get(a.upstream);
    if (upstream === undefined) throw new Error(`route ${route.path} names unknown upstream ${a.upstream}`); // validated earlier
    action = { ...a, upstream };
  } else {
    action = a;
  }
  // Where a request is proxied: the upstream action's, or a files route's fallback.
  const name = a.kind === 'upstream' ? a.upstream : route.files?.fallback ?? null;
  const upstream = name === null ? undefined : upstreams.get(name);
  if (name !== null && upstream === undefined) throw new Error(`route ${route.path} names unknown upstream ${name}`); // validated earlier
  const m = route.match;
  const regex = m.kind === 'regex' ? compileRouteRegex(m.source, m.caseInsensitive) : null;
  if (typeof regex === 'string') throw new Error(`route ${route.path}: ${regex}`); // validated earlier
  const templates: Template[] = a.kind === 'redirect' ? [a.to] : a.kind === 'respond' ? [...(a.body === null ? [] : [a.body]), ...a.headers.map((h) => h.value)] : a.kind === 'files' || a.rewrite === null ? [] : [a.rewrite];
  const usesRequestId = [...templates, ...ruleTemplates(route.headers)].some((t) => t.some((p) => typeof p !== 'string' && p.kind === 'var' && p.name === 'request_id'));
  return {
    path: route.path,
    kind: m.kind,
    regex,
    overridesRegex: m.kind === 'prefix' && m.overridesRegex,
    methods: route.methods === null ? null : new Set(route.methods),
    scheme: route.scheme,
    action,
    headers: route.headers,
    bodySize: route.bodySize,
    timeouts: route.timeouts,
    contextual: (a.kind !== 'upstream' && a.kind !== 'files') || (a.kind === 'upstream' && (a.rewrite !== null || a.stripPrefix)) || templatesUse(route.headers),
    usesRequestId,
    origins: compileOrigins(route.websocket.origins),
    allowMissingOrigin: route.websocket.allowMissingOrigin,
    label: `${host}${route.path}`,
    upstream,
    files: route.files ?? undefined,
    compress: route.compress ?? undefined,
    internal: route.internal,
    accessLog: route.accessLog,
    guard: route.guard,
    cache: route.cache,
    shaper: shaperOf(route),
  };
}

/** Upstream routes, and files routes' fallbacks: Location rewriting and the response rules, or null when neither applies. */
function shaperOf(route: RouteConfig): RouteShaper | null {
  const a = route.action;
  const rules = route.headers !== null && route.headers.response.length > 0 ? route.headers : null;
  if (a.kind === 'files') return rules === null ? null : new RouteShaper(rules, null);
  if (a.kind !== 'upstream' || (!a.rewriteLocation && route.headers === null)) return null;
  return new RouteShaper(rules, a.rewriteLocation ? (a.stripPrefix ? route.path : '') : null);
}

function ruleTemplates(rules: HeaderRules | null): Template[] {
  if (rules === null) return [];
  return [...(rules.request === null ? [] : [rules.request]), ...rules.response].flatMap((o) => [...o.set, ...o.add].map((e) => e.value));
}

/**
 * nginx's location order (README "Routes, headers, redirects: coming from nginx") on the routing path: an exact route; else the longest
 * prefix, outright if it overrides regexes; else the first regex in file order; else that
 * prefix. A route whose `methods`/`scheme` do not fit is skipped and the search goes on.
 */
export function matchRoute(site: Site, path: string, method = 'GET', scheme: 'http' | 'https' = 'https'): Route | MethodMismatch | undefined {
  if (site.simple) {
    for (const route of site.prefixes) {
      if (path.startsWith(route.path)) return route;
    }
    return undefined;
  }
  let missed = false;
  const exact = site.exact?.get(path);
  if (exact !== undefined) {
    for (const route of exact) {
      if (fits(route, method, scheme)) return route;
      missed ||= route.scheme === null || route.scheme === scheme;
    }
  }
  let prefix: Route | undefined;
  for (const route of site.prefixes) {
    if (!path.startsWith(route.path)) continue;
    if (fits(route, method, scheme)) {
      prefix = route;
      break;
    }
    missed ||= route.scheme === null || route.scheme === scheme;
  }
  if (prefix?.overridesRegex === true) return prefix;
  for (const route of site.regexes) {
    if (!(route.regex as RegExp).test(path)) continue;
    if (fits(route, method, scheme)) return route;
    missed ||= route.scheme === null || route.scheme === scheme;
  }
  if (prefix !== undefined) return prefix;
  return missed ? new MethodMismatch(allowed(site, path, scheme)) : undefined;
}

function fits(route: Route, method: string, scheme: 'http' | 'https'): boolean {
  return (route.scheme === null || route.scheme === scheme) && (route.methods === null || route.methods.has(method));
}

/** Every method some route for this path takes (only asked on the way to a 405). */
function allowed(site: Site, path: string, scheme: 'http' | 'https'): string {
  const methods = new Set<string>();
  const candidates = [...(site.exact?.get(path) ?? []), ...site.prefixes.filter((r) => path.startsWith(r.path)), ...site.regexes.filter((r) => (r.regex as RegExp).test(path))];
  for (const r of candidates) {
    if (r.scheme === null || r.scheme === scheme) for (const m of r.methods ?? []) methods.add(m);
  }
  return [...methods].sort().join(', ');
}
