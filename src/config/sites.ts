import { DEFAULTS } from './defaults.js';
import { COMPRESS, ERROR_PAGES, readRouteExtras, readSiteExtras } from './files.js';
import { readRouteGuard, type RateLimitsConfig } from './guard.js';
import { HEADERS, readHeaderRules, templatesOf } from './headers.js';
import { checkPlaceholders, readRedirect as readSiteRedirect, readRoute, REDIRECT, ROUTE, WEBSOCKET, type RouteContext } from './routes.js';
import { field, keysOf, list, object, oneOf, string } from './shape.js';
import type { Config, RouteConfig, SiteConfig, UpstreamConfig, WebSocketPolicy } from './types.js';
import { isSiteHost, type Path, type Reader } from './values.js';
import { readRouteCache, type CacheStoreConfig } from './cache.js';

/** `sites[]`: its keys in the order messages list them. */
export const SITE = object({
  hosts: list(string(), { minItems: 1 }),
  routes: list(ROUTE),
  redirect: REDIRECT,
  plainHttp: oneOf(['redirect', 'serve'] as const, DEFAULTS.site.plainHttp),
  headers: HEADERS,
  compress: COMPRESS,
  errorPages: ERROR_PAGES,
}, { required: ['hosts'] });

export function readSites(
  r: Reader, raw: unknown, upstreams: ReadonlyMap<string, UpstreamConfig>, ports: { readonly https: readonly number[]; readonly http: number | null }, guarding: { dir: string; rateLimits: RateLimitsConfig; cache: CacheStoreConfig | null }, timeouts: Config['timeouts'],
): SiteConfig[] {
  const dir = guarding.dir;
  const list = r.list(raw, ['sites']) ?? [];
  if (list.length === 0) r.error(['sites'], 'at least one site is needed: - { hosts: [example.com], routes: [{ path: /, upstream: app }] }', raw === undefined ? 'key' : 'value');
  const seen = new Map<string, number>();
  const sites: SiteConfig[] = [];
  list.forEach((entry, i) => {
    const path = ['sites', i];
    const o = r.object(entry, path, keysOf(SITE)) ?? {};
    const siteExtras = readSiteExtras(r, o, path, dir);
    const hosts: string[] = [];
    const hostList = r.list(o.hosts, [...path, 'hosts']) ?? [];
    if (hostList.length === 0) r.error(o.hosts === undefined ? path : [...path, 'hosts'], 'a site needs at least one host name');
    hostList.forEach((h, j) => {
      const hp = [...path, 'hosts', j];
      const host = r.string(h, hp)?.toLowerCase();
      if (host === undefined) return;
      if (!isSiteHost(host)) return void r.error(hp, `"${host}" is not a host name (use names like app.example.com or *.example.com, no scheme or port)`);
      const other = seen.get(host);
      if (other !== undefined) return void r.error(hp, other === i ? `host ${host} is listed twice` : `host ${host} is already served by sites[${other}]`);
      seen.set(host, i);
      hosts.push(host);
    });
    const plainHttp = field(r, o, path, 'plainHttp', SITE.keys.plainHttp);
    const headers = readHeaderRules(r, o.headers, [...path, 'headers']);
    checkPlaceholders(r, [...path, 'headers'], undefined, templatesOf(headers));
    const redirect = o.redirect === undefined ? null : readSiteRedirect(r, o.redirect, [...path, 'redirect']) ?? null;
    if (o.redirect !== undefined && o.routes !== undefined) r.error([...path, 'routes'], 'a site with redirect answers every request with it: it has no routes');
    const routes: RouteConfig[] = [];
    const routeList = r.list(o.routes, [...path, 'routes']) ?? [];
    if (routeList.length === 0 && o.redirect === undefined) r.error(o.routes === undefined ? path : [...path, 'routes'], 'a site needs at least one route, e.g. - { path: /, upstream: app }, or a redirect');
    const ctx: RouteContext = {
      dir, upstreams, timeouts, plainHttp, siteHeaders: headers,
      websocket: (value, wp) => readWebSocket(r, value, wp, hosts, ports.https, plainHttp === 'serve' ? ports.http : null),
    };
    routeList.forEach((entry, j) => {
      const rp = [...path, 'routes', j];
      const route = readRoute(r, entry, rp, ctx);
      if (route === undefined) return;
      const ro = entry as Record<string, unknown>;
      const extras = readRouteExtras(r, ro, rp, dir, new Set(upstreams.keys()), siteExtras.compress, false);
      const guard = readRouteGuard(r, ro, rp, { ...guarding, upstreams: new Set(upstreams.keys()) });
      const twin = routes.find((x) => x.match.kind === route.match.kind && x.path === route.path && x.methods === null && x.scheme === null);
      if (twin !== undefined && route.methods === null && route.scheme === null) r.error(rp, `${route.match.kind === 'regex' ? 'regex' : route.match.kind === 'exact' ? 'exact path' : 'path'} ${route.path} is routed twice in this site`);
      routes.push({ ...route, guard, ...extras, cache: readRouteCache(r, ro, rp, guarding.cache) });
    });
    sites.push({
      hosts, routes, redirect: redirect === null ? null : { to: redirect.to, status: redirect.status, absolute: redirect.absolute }, plainHttp, headers, errorPages: siteExtras.errorPages,
    });
  });
  return sites;
}

function readWebSocket(r: Reader, raw: unknown, path: Path, hosts: readonly string[], httpsPorts: readonly number[], plainHttpPort: number | null): WebSocketPolicy {
  const o = r.object(raw, path, keysOf(WEBSOCKET)) ?? {};
  const allowMissingOrigin = field(r, o, path, 'allowMissingOrigin', WEBSOCKET.keys.allowMissingOrigin);
  if (o.origins === undefined) {
    // Default: the site's own pages, as a browser serialises their origin (RFC 6454 §6.1).
    // Pages may come from any listen.https port; 443 (and 0, the OS's pick) need no suffix.
    const suffix = ['', ...new Set(httpsPorts.filter((p) => p !== 443 && p !== 0).map((p) => `:${p}`))];
    const bracketed = hosts.map((h) => (h.includes(':') ? `[${h}]` : h));
    const origins = bracketed.flatMap((h) => suffix.map((s) => `https://${h}${s}`));
    // A `plainHttp: serve` site's pages are also served over :80: their http origin is the site's own too.
    if (plainHttpPort !== null) origins.push(...bracketed.map((h) => `http://${h}${plainHttpPort === 80 || plainHttpPort === 0 ? '' : `:${plainHttpPort}`}`));
    return { origins, allowMissingOrigin };
  }
  const origins: string[] = [];
  (r.list(o.origins, [...path, 'origins']) ?? []).forEach((v, i) => {
    const text = r.string(v, [...path, 'origins', i]);
    if (text === undefined) return;
    const origin = normaliseOriginEntry(text);
    if (origin === undefined) return void r.error([...path, 'origins', i], `"${text}" is not an origin: use scheme://host[:port] or https://*.example.com, no path`);
    origins.push(origin);
  });
  return { origins, allowMissingOrigin };
}

/** "HTTPS://App.Example.com:443" → "https://app.example.com"; wildcard hosts keep their "*." */
function normaliseOriginEntry(text: string): string | undefined {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(\*\.)?([^/?#@]+)\/?$/i.exec(text);
  if (m === null) return undefined;
  let url: URL;
  try {
    url = new URL(`${m[1]}://${m[2] === undefined ? '' : 'wildcard.'}${m[3]}`);
  } catch {
    return undefined;
  }
  const origin = url.origin; // 'null' for schemes without a tuple origin
  if (origin === 'null') return undefined;
  return m[2] === undefined ? origin : origin.replace('://wildcard.', '://*.');
}
