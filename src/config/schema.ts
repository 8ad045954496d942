import { isIP } from 'node:net';
import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type {
  CertificatePaths, Cidr, Config, HealthCheckConfig, ListenAddress, LogLevel, RouteConfig,
  SiteConfig, TargetConfig, UpstreamConfig, UpstreamTls, WebSocketPolicy,
} from './types.js';
import { readAcme } from '../tls/acme/config.js';
import { GUARD_DEFAULTS, readRateLimits, readRouteGuard, type RateLimitsConfig } from './guard.js';
import { CACHE_DEFAULTS, readCacheStore, readRouteCache, type CacheStoreConfig } from './cache.js';
import { readRouteExtras, readSiteExtras, SITE_KEYS } from './files.js';
import { readHeaderRules, templatesOf } from './headers.js';
import { checkPlaceholders, readRedirect as readSiteRedirect, readRoute, type RouteContext } from './routes.js';
import { readHttps } from './listen.js';
import { isSiteHost, parseDuration, readCaFile, Reader, type Issue, type Path } from './values.js';

const TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';
/** Added for TLS 1.2 clients only when `minVersion: TLSv1.2` and no `ciphers` were given (Mozilla "intermediate"). */
const TLS12_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

/** Every default in one place; README's config reference mirrors this literal. */
export const DEFAULTS = {
  listen: { http: 80, https: 443, admin: false, proxyProtocol: [] },
  http2: { enabled: true, maxConcurrentStreams: 128, websocket: true },
  tls: {
    minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS, watch: { settle: '250ms', recheck: '5m' },
    acme: { directory: 'https://acme-v02.api.letsencrypt.org/directory', email: null, storage: 'acme', ca: null, challenge: 'http-01' },
  },
  hsts: { maxAge: '1y', includeSubDomains: false, preload: false },
  redirect: { status: 301, acmeWebroot: null },
  upstream: {
    hash: { ipv4Prefix: 32, ipv6Prefix: 64 },
    healthCheck: { path: '/', interval: '5s', timeout: '2s', type: 'http' },
    maxFails: 3,
    failTimeout: '10s',
    keepalive: 256,
    keepaliveTimeout: '4s',
  },
  route: { path: '/', caseInsensitive: false, overridesRegex: false, stripPrefix: false, rewriteLocation: true },
  site: { plainHttp: 'redirect' },
  trustedProxies: [],
  websocket: { allowMissingOrigin: false },
  timeouts: {
    connect: '5s', response: '60s', idle: '60s', headers: '10s', handshake: '10s', websocketIdle: '1h', drain: '30s',
  },
  limits: { headerSize: 16384, bodySize: 0, connections: 0, connectionsPerIp: 0 },
  workers: 1,
  log: { level: 'info', format: 'json' },
  /** rateLimits.NAME and routes[].auth.basic (config/guard.ts reads them). */
  rateLimit: GUARD_DEFAULTS.rateLimit,
  access: GUARD_DEFAULTS.access,
  basicAuth: GUARD_DEFAULTS.basic,
  forwardAuth: GUARD_DEFAULTS.forward,
  /** `cache:` and routes[].cache (config/cache.ts reads them). */
  cache: CACHE_DEFAULTS,
} as const;

/** A DEFAULTS duration in ms: the value that stands in when a given one is refused (the issue already fails the load). */
function ms(duration: string): number {
  return parseDuration(duration) as number;
}

const TOP_KEYS = ['listen', 'http2', 'tls', 'hsts', 'redirect', 'upstreams', 'sites', 'trustedProxies', 'timeouts', 'limits', 'workers', 'log', 'rateLimits', 'cache'];
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const YEAR_SECONDS = 31_536_000;

export interface Validated {
  readonly config: Config | undefined;
  readonly issues: readonly Issue[];
  /** The tls section as far as it could be read, even when other keys are wrong: `check` still tests its files. */
  readonly tls: Config['tls'];
}

/** Validate a parsed YAML value; `file` anchors relative paths. Returns a config only when no issue is an error. */
export function validate(raw: unknown, file: string): Validated {
  const r = new Reader();
  const dir = dirname(file);
  const top = r.object(raw, [], TOP_KEYS) ?? {};

  const listen = readListen(r, top.listen);
  const http2 = readHttp2(r, top.http2);
  const tlsNoAcme = readTls(r, top.tls, dir);
  const hsts = readHsts(r, top.hsts);
  const redirect = readRedirect(r, top.redirect, dir);
  const upstreams = readUpstreams(r, top.upstreams, dir);
  const rateLimits = readRateLimits(r, top.rateLimits);
  const timeouts = readTimeouts(r, top.timeouts);
  const cache = readCacheStore(r, top.cache, dir);
  const sites = readSites(r, top.sites, upstreams, listen.httpsAll.map((a) => a.port), { dir, rateLimits, cache }, timeouts);
  const tls = { ...tlsNoAcme, acme: readAcme(r, (top.tls as Record<string, unknown> | undefined)?.acme, { dir, sites, listen, certificates: tlsNoAcme.certificates.length, defaults: DEFAULTS.tls.acme }) };
  const trustedProxies = (r.list(top.trustedProxies, ['trustedProxies']) ?? DEFAULTS.trustedProxies)
    .map((v, i) => r.cidr(v, ['trustedProxies', i]))
    .filter((c): c is Cidr => c !== undefined);
  const limitsRaw = r.object(top.limits, ['limits'], ['headerSize', 'bodySize', 'connections', 'connectionsPerIp']) ?? {};
  const limits = {
    headerSize: limitsRaw.headerSize === undefined ? DEFAULTS.limits.headerSize
      : r.size(limitsRaw.headerSize, ['limits', 'headerSize'], 1024, 1_048_576) ?? DEFAULTS.limits.headerSize,
    bodySize: limitsRaw.bodySize === undefined ? DEFAULTS.limits.bodySize
      : r.size(limitsRaw.bodySize, ['limits', 'bodySize'], 0, Number.MAX_SAFE_INTEGER) ?? DEFAULTS.limits.bodySize,
    connections: r.integer(limitsRaw.connections ?? DEFAULTS.limits.connections, ['limits', 'connections'], 0, 10_000_000) ?? DEFAULTS.limits.connections,
    connectionsPerIp: r.integer(limitsRaw.connectionsPerIp ?? DEFAULTS.limits.connectionsPerIp, ['limits', 'connectionsPerIp'], 0, 10_000_000) ?? DEFAULTS.limits.connectionsPerIp,
  };
  const workers = top.workers === undefined || top.workers === 'auto' ? top.workers ?? DEFAULTS.workers
    : r.integer(top.workers, ['workers'], 1, 1024) ?? DEFAULTS.workers;
  const logRaw = r.object(top.log, ['log'], ['level', 'format']) ?? {};
  const log = {
    level: r.oneOf(logRaw.level ?? DEFAULTS.log.level, ['log', 'level'], LOG_LEVELS) ?? DEFAULTS.log.level,
    format: r.oneOf(logRaw.format ?? DEFAULTS.log.format, ['log', 'format'], ['json', 'pretty'] as const) ?? DEFAULTS.log.format,
  };

  const failed = r.issues.some((i) => i.severity === 'error');
  const config: Config | undefined = failed ? undefined : {
    file, listen, http2, tls, hsts, redirect, upstreams, sites, trustedProxies, timeouts, limits,
    workers: workers as number | 'auto', log, rateLimits, cache,
  };
  return { config, issues: r.issues, tls };
}

function readListen(r: Reader, raw: unknown): Config['listen'] {
  const o = r.object(raw, ['listen'], ['http', 'https', 'admin', 'proxyProtocol']) ?? {};
  const http = r.listen(o.http ?? DEFAULTS.listen.http, ['listen', 'http'], true);
  let admin = r.listen(o.admin ?? DEFAULTS.listen.admin, ['listen', 'admin'], true);
  // A bare admin port binds loopback: metrics are not for the internet unless asked for by address.
  if (admin && admin.host === undefined) admin = { host: '127.0.0.1', port: admin.port };
  const httpsAll = readHttps(r, o.https ?? DEFAULTS.listen.https, DEFAULTS.listen.https, [{ key: 'listen.http', address: http ?? null }, { key: 'listen.admin', address: admin ?? null }]);
  const https = httpsAll[0] as ListenAddress;
  const proxyProtocol = (r.list(o.proxyProtocol ?? DEFAULTS.listen.proxyProtocol, ['listen', 'proxyProtocol']) ?? [])
    .map((v, i) => r.cidr(v, ['listen', 'proxyProtocol', i]))
    .filter((c): c is Cidr => c !== undefined);
  return { http: http ?? null, https, httpsAll, admin: admin ?? null, proxyProtocol };
}

function readHttp2(r: Reader, raw: unknown): Config['http2'] {
  const o = r.object(raw, ['http2'], ['enabled', 'maxConcurrentStreams', 'websocket']) ?? {};
  const d = DEFAULTS.http2;
  return {
    enabled: r.boolean(o.enabled ?? d.enabled, ['http2', 'enabled']) ?? d.enabled,
    // RFC 9113 §6.5.2: below 100 is not recommended, but 1 is a legal (if odd) choice.
    maxConcurrentStreams: r.integer(o.maxConcurrentStreams ?? d.maxConcurrentStreams, ['http2', 'maxConcurrentStreams'], 1, 10_000) ?? d.maxConcurrentStreams,
    websocket: r.boolean(o.websocket ?? d.websocket, ['http2', 'websocket']) ?? d.websocket,
  };
}

/** Everything of `tls` but `acme`, which needs the sites (its default hosts) and is read after them. */
function readTls(r: Reader, raw: unknown, dir: string): Omit<Config['tls'], 'acme'> {
  const o = r.object(raw, ['tls'], ['minVersion', 'ciphers', 'certificates', 'watch', 'acme']) ?? {};
  const minVersion = r.oneOf(o.minVersion ?? DEFAULTS.tls.minVersion, ['tls', 'minVersion'], ['TLSv1.3', 'TLSv1.2'] as const) ?? DEFAULTS.tls.minVersion;
  if (minVersion === 'TLSv1.2') {
    r.warn(['tls', 'minVersion'], 'TLSv1.2 is allowed: clients may negotiate TLS 1.2; the default TLSv1.3 refuses it');
  }
  let ciphers: string = DEFAULTS.tls.ciphers;
  if (o.ciphers !== undefined) {
    ciphers = r.string(o.ciphers, ['tls', 'ciphers']) ?? ciphers;
    try {
      createSecureContext({ ciphers, minVersion });
    } catch (err) {
      r.error(['tls', 'ciphers'], `OpenSSL rejects this cipher list: ${(err as Error).message}`);
    }
  } else if (minVersion === 'TLSv1.2') {
    ciphers = `${TLS13_CIPHERS}:${TLS12_CIPHERS}`;
  }
  const list = r.list(o.certificates, ['tls', 'certificates']) ?? [];
  const acme = o.acme !== undefined && o.acme !== null && o.acme !== false;
  if (list.length === 0 && !acme) r.error(['tls', 'certificates'], 'at least one certificate is needed: - { cert: fullchain.pem, key: privkey.pem }, or a tls.acme block', o.certificates === undefined ? 'key' : 'value');
  const certificates: CertificatePaths[] = [];
  list.forEach((entry, i) => {
    const path = ['tls', 'certificates', i];
    const e = r.object(entry, path, ['cert', 'key']) ?? {};
    const cert = e.cert === undefined ? r.error(path, 'missing "cert" (path to the PEM certificate chain)') : r.string(e.cert, [...path, 'cert']);
    const key = e.key === undefined ? r.error(path, 'missing "key" (path to the PEM private key)') : r.string(e.key, [...path, 'key']);
    if (cert !== undefined && key !== undefined) certificates.push({ cert: resolve(dir, cert), key: resolve(dir, key) });
  });
  const w = r.object(o.watch, ['tls', 'watch'], ['settle', 'recheck']) ?? {};
  const watch = {
    settle: r.timer(w.settle ?? DEFAULTS.tls.watch.settle, ['tls', 'watch', 'settle'], 0) ?? ms(DEFAULTS.tls.watch.settle),
    recheck: r.timer(w.recheck ?? DEFAULTS.tls.watch.recheck, ['tls', 'watch', 'recheck'], 0) ?? ms(DEFAULTS.tls.watch.recheck),
  };
  if (watch.recheck < 1000) r.error(['tls', 'watch', 'recheck'], 'a re-check more often than every second would only burn CPU');
  return { minVersion, ciphers, certificates, watch };
}

function readHsts(r: Reader, raw: unknown): Config['hsts'] {
  const o = r.object(raw, ['hsts'], ['maxAge', 'includeSubDomains', 'preload']) ?? {};
  const maxAge = Math.floor((r.duration(o.maxAge ?? DEFAULTS.hsts.maxAge, ['hsts', 'maxAge']) ?? ms(DEFAULTS.hsts.maxAge)) / 1000);
  const includeSubDomains = r.boolean(o.includeSubDomains ?? DEFAULTS.hsts.includeSubDomains, ['hsts', 'includeSubDomains']) ?? DEFAULTS.hsts.includeSubDomains;
  const preload = r.boolean(o.preload ?? DEFAULTS.hsts.preload, ['hsts', 'preload']) ?? DEFAULTS.hsts.preload;
  // hstspreload.org refuses submissions without both; a preload flag alone only misleads.
  if (preload && (maxAge < YEAR_SECONDS || !includeSubDomains)) {
    r.warn(['hsts', 'preload'], 'preload lists require maxAge >= 1y and includeSubDomains: true');
  }
  return { maxAge, includeSubDomains, preload };
}

function readRedirect(r: Reader, raw: unknown, dir: string): Config['redirect'] {
  const o = r.object(raw, ['redirect'], ['status', 'acmeWebroot']) ?? {};
  const status = r.oneOf(o.status ?? DEFAULTS.redirect.status, ['redirect', 'status'], [301, 302, 307, 308] as const) ?? DEFAULTS.redirect.status;
  const webroot = o.acmeWebroot === undefined || o.acmeWebroot === null ? undefined : r.string(o.acmeWebroot, ['redirect', 'acmeWebroot']);
  return { status, acmeWebroot: webroot === undefined ? null : resolve(dir, webroot) };
}

function readUpstreams(r: Reader, raw: unknown, dir: string): Map<string, UpstreamConfig> {
  const result = new Map<string, UpstreamConfig>();
  if (raw === undefined || raw === null) return result;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    r.error(['upstreams'], 'expected a mapping of upstream name → { targets: [...] }');
    return result;
  }
  const d = DEFAULTS.upstream;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const path = ['upstreams', name];
    const o = r.object(value, path, ['targets', 'hash', 'healthCheck', 'maxFails', 'failTimeout', 'keepalive', 'keepaliveTimeout', 'tls']) ?? {};
    const tls = readUpstreamTls(r, o.tls, [...path, 'tls'], dir);
    const targetList = r.list(o.targets, [...path, 'targets']) ?? [];
    if (targetList.length === 0) r.error(o.targets === undefined ? path : [...path, 'targets'], 'an upstream needs at least one target, e.g. targets: [127.0.0.1:3000]');
    const targets: TargetConfig[] = [];
    targetList.forEach((t, i) => {
      const target = r.target(t, [...path, 'targets', i], dir);
      if (target === undefined) return;
      if (targets.some((x) => x.id === target.id)) r.error([...path, 'targets', i], `target ${target.id} is listed twice`);
      else targets.push(target.protocol === 'https:' ? { ...target, tls } : target);
    });
    if (o.tls !== undefined && !targets.some((x) => x.protocol === 'https:')) {
      r.warn([...path, 'tls'], 'tls applies to https:// targets, and this upstream has none');
    }
    const h = r.object(o.hash, [...path, 'hash'], ['ipv4Prefix', 'ipv6Prefix']) ?? {};
    const hash = {
      ipv4Prefix: r.integer(h.ipv4Prefix ?? d.hash.ipv4Prefix, [...path, 'hash', 'ipv4Prefix'], 0, 32) ?? d.hash.ipv4Prefix,
      ipv6Prefix: r.integer(h.ipv6Prefix ?? d.hash.ipv6Prefix, [...path, 'hash', 'ipv6Prefix'], 0, 128) ?? d.hash.ipv6Prefix,
    };
    let healthCheck: HealthCheckConfig | null = null;
    if (o.healthCheck !== undefined && o.healthCheck !== null && o.healthCheck !== false) {
      const hp = [...path, 'healthCheck'];
      const hc = r.object(o.healthCheck, hp, ['path', 'interval', 'timeout', 'type']) ?? {};
      const probePath = r.string(hc.path ?? d.healthCheck.path, [...hp, 'path']) ?? d.healthCheck.path;
      if (!probePath.startsWith('/')) r.error([...hp, 'path'], 'a health check path starts with "/"');
      healthCheck = {
        path: probePath,
        interval: r.timer(hc.interval ?? d.healthCheck.interval, [...hp, 'interval'], 100) ?? ms(d.healthCheck.interval),
        timeout: r.timer(hc.timeout ?? d.healthCheck.timeout, [...hp, 'timeout'], 1) ?? ms(d.healthCheck.timeout),
        type: r.oneOf(hc.type ?? d.healthCheck.type, [...hp, 'type'], ['http', 'websocket'] as const) ?? d.healthCheck.type,
      };
    }
    result.set(name, {
      name, targets, hash, healthCheck,
      maxFails: r.integer(o.maxFails ?? d.maxFails, [...path, 'maxFails'], 0, 1_000_000) ?? d.maxFails,
      failTimeout: r.duration(o.failTimeout ?? d.failTimeout, [...path, 'failTimeout']) ?? ms(d.failTimeout),
      keepalive: r.integer(o.keepalive ?? d.keepalive, [...path, 'keepalive'], 0, 65_535) ?? d.keepalive,
      keepaliveTimeout: r.timer(o.keepaliveTimeout ?? d.keepaliveTimeout, [...path, 'keepaliveTimeout'], 1) ?? ms(d.keepaliveTimeout),
    });
  }
  return result;
}

/** `tls: { ca, servername }` of an upstream; the CA file is read (and checked) now, so a reload picks up a new one. */
function readUpstreamTls(r: Reader, raw: unknown, path: Path, dir: string): UpstreamTls | null {
  if (raw === undefined || raw === null) return null;
  const o = r.object(raw, path, ['ca', 'servername']) ?? {};
  let ca: string | null = null;
  if (o.ca !== undefined) {
    const given = r.string(o.ca, [...path, 'ca']);
    if (given !== undefined) ca = readCaFile(r, resolve(dir, given), [...path, 'ca'], 'point tls.ca at the PEM file of the CA that signed the upstream\'s certificate');
  }
  let servername: string | null = null;
  if (o.servername !== undefined) {
    const name = r.string(o.servername, [...path, 'servername']);
    if (name !== undefined && (isIP(name) !== 0 || name.includes('*') || !isSiteHost(name.toLowerCase()))) {
      r.error([...path, 'servername'], 'expected a DNS name, e.g. app.internal (the name in the upstream\'s certificate)');
    } else if (name !== undefined) {
      servername = name.toLowerCase();
    }
  }
  return { ca, servername };
}

function readSites(
  r: Reader, raw: unknown, upstreams: ReadonlyMap<string, UpstreamConfig>, httpsPorts: readonly number[], guarding: { dir: string; rateLimits: RateLimitsConfig; cache: CacheStoreConfig | null }, timeouts: Config['timeouts'],
): SiteConfig[] {
  const dir = guarding.dir;
  const list = r.list(raw, ['sites']) ?? [];
  if (list.length === 0) r.error(['sites'], 'at least one site is needed: - { hosts: [example.com], routes: [{ path: /, upstream: app }] }', raw === undefined ? 'key' : 'value');
  const seen = new Map<string, number>();
  const sites: SiteConfig[] = [];
  list.forEach((entry, i) => {
    const path = ['sites', i];
    const o = r.object(entry, path, ['hosts', 'routes', 'redirect', 'plainHttp', 'headers', ...SITE_KEYS]) ?? {};
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
    const plainHttp = r.oneOf(o.plainHttp ?? DEFAULTS.site.plainHttp, [...path, 'plainHttp'], ['redirect', 'serve'] as const) ?? DEFAULTS.site.plainHttp;
    const headers = readHeaderRules(r, o.headers, [...path, 'headers']);
    checkPlaceholders(r, [...path, 'headers'], undefined, templatesOf(headers));
    const redirect = o.redirect === undefined ? null : readSiteRedirect(r, o.redirect, [...path, 'redirect']) ?? null;
    if (o.redirect !== undefined && o.routes !== undefined) r.error([...path, 'routes'], 'a site with redirect answers every request with it: it has no routes');
    const routes: RouteConfig[] = [];
    const routeList = r.list(o.routes, [...path, 'routes']) ?? [];
    if (routeList.length === 0 && o.redirect === undefined) r.error(o.routes === undefined ? path : [...path, 'routes'], 'a site needs at least one route, e.g. - { path: /, upstream: app }, or a redirect');
    const ctx: RouteContext = {
      dir, upstreams, timeouts, plainHttp, siteHeaders: headers, defaults: DEFAULTS.route,
      websocket: (value, wp) => readWebSocket(r, value, wp, hosts, httpsPorts),
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

function readWebSocket(r: Reader, raw: unknown, path: Path, hosts: readonly string[], httpsPorts: readonly number[]): WebSocketPolicy {
  const o = r.object(raw, path, ['origins', 'allowMissingOrigin']) ?? {};
  const allowMissingOrigin = r.boolean(o.allowMissingOrigin ?? DEFAULTS.websocket.allowMissingOrigin, [...path, 'allowMissingOrigin']) ?? DEFAULTS.websocket.allowMissingOrigin;
  if (o.origins === undefined) {
    // Default: the site's own pages, as a browser serialises their origin (RFC 6454 §6.1).
    // Pages may come from any listen.https port; 443 (and 0, the OS's pick) need no suffix.
    const suffix = ['', ...new Set(httpsPorts.filter((p) => p !== 443 && p !== 0).map((p) => `:${p}`))];
    return { origins: hosts.flatMap((h) => suffix.map((s) => `https://${h.includes(':') ? `[${h}]` : h}${s}`)), allowMissingOrigin };
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

function readTimeouts(r: Reader, raw: unknown): Config['timeouts'] {
  const d = DEFAULTS.timeouts;
  const keys = Object.keys(d) as (keyof typeof d)[];
  const o = r.object(raw, ['timeouts'], keys) ?? {};
  const out = {} as Record<keyof typeof d, number>;
  for (const key of keys) {
    // 0 is meaningful only for these two: tunnels never idle out, drain closes at once.
    const min = key === 'websocketIdle' || key === 'drain' ? 0 : 1;
    out[key] = r.timer(o[key] ?? d[key], ['timeouts', key], min) ?? ms(d[key]);
  }
  return out;
}
