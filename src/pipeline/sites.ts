import type { RouteGuardConfig } from '../config/guard.js';
import type { CompressConfig, ErrorPagesConfig, FilesConfig } from '../config/files.js';
import type { RouteConfig, SiteConfig } from '../config/types.js';
import type { Upstream } from '../upstream/pool.js';
import { compileOrigins, type OriginMatcher } from './origin.js';

/** A route with everything the request path needs, resolved at load time. */
export interface Route {
  readonly path: string;
  /** Where the request is proxied: the route's upstream, or its files' fallback; undefined for files alone. */
  readonly upstream: Upstream | undefined;
  readonly files: FilesConfig | undefined;
  readonly compress: CompressConfig | undefined;
  /** Reached only through an upstream's X-Accel-Redirect (DESIGN 24). */
  readonly internal: boolean;
  readonly origins: OriginMatcher;
  readonly allowMissingOrigin: boolean;
  /** Metrics/log label: "host/path" of the site's first host. */
  readonly label: string;
  /** access/auth/rateLimit; null (the common case) skips the guard at the cost of one comparison. */
  readonly guard: RouteGuardConfig | null;
}

export interface Site {
  readonly index: number;
  readonly hosts: readonly string[];
  /** Longest prefix first, so the first match wins. */
  readonly routes: readonly Route[];
  readonly errorPages: ErrorPagesConfig | undefined;
  /** Some route is `internal`: upstream answers are checked for X-Accel-Redirect. */
  readonly accel: boolean;
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
  const routes = [...config.routes]
    .sort((a, b) => b.path.length - a.path.length)
    .map((r) => compileRoute(r, config.hosts[0] ?? '', upstreams));
  return { index, hosts: config.hosts, routes, errorPages: config.errorPages ?? undefined, accel: routes.some((r) => r.internal) };
}

function compileRoute(route: RouteConfig, host: string, upstreams: ReadonlyMap<string, Upstream>): Route {
  const name = route.upstream ?? route.files?.fallback ?? null;
  const upstream = name === null ? undefined : upstreams.get(name);
  if (name !== null && upstream === undefined) throw new Error(`route ${route.path} names unknown upstream ${name}`); // validated earlier
  return {
    path: route.path,
    upstream,
    files: route.files ?? undefined,
    compress: route.compress ?? undefined,
    internal: route.internal,
    origins: compileOrigins(route.websocket.origins),
    allowMissingOrigin: route.websocket.allowMissingOrigin,
    label: `${host}${route.path}`,
    guard: route.guard,
  };
}

/** Longest-prefix match on the path part of a request-target (plain string prefix, as nginx `location /p`). */
export function matchRoute(site: Site, target: string): Route | undefined {
  for (const route of site.routes) {
    if (target.startsWith(route.path)) return route;
  }
  return undefined;
}
