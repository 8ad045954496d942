import { dirname, resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import type { CertificatePaths, Cidr, Config, ListenAddress, LogLevel } from './types.js';
import { ACME, readAcme } from './acme.js';
import { DEFAULTS, TLS12_CIPHERS, TLS13_CIPHERS } from './defaults.js';
import { RATE_LIMITS, readRateLimits } from './guard.js';
import { CACHE_STORE, readCacheStore } from './cache.js';
import { readHttps } from './listen.js';
import {
  anyOf, boolean, cidr, duration, field, fields, given, integer, keysOf, list, listenAddress, object, oneOf, size, string, type Shape,
} from './shape.js';
import { readSites, SITE } from './sites.js';
import { readUpstreams, UPSTREAMS } from './upstreams.js';
import { Reader, type Issue } from './values.js';

export { DEFAULTS } from './defaults.js';

const d = DEFAULTS;
const LOG_LEVELS: readonly LogLevel[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];
const YEAR_SECONDS = 31_536_000;

/*
 * The sections this file reads; the others declare their shape next to their reader (sites.ts,
 * routes.ts, upstreams.ts, guard.ts, cache.ts, files.ts, headers.ts, acme.ts). CONFIG below is
 * the whole tree: the loader's top-level keys and `gatehouse schema` both come from it.
 */
const LISTEN = object({
  http: listenAddress(true, d.listen.http),
  https: anyOf([listenAddress(false), list(listenAddress(false), { minItems: 1 })], d.listen.https),
  admin: listenAddress(true, d.listen.admin),
  proxyProtocol: list(cidr(), { default: d.listen.proxyProtocol }),
});
const HTTP2 = object({
  enabled: boolean(d.http2.enabled),
  // RFC 9113 §6.5.2: below 100 is not recommended, but 1 is a legal (if odd) choice.
  maxConcurrentStreams: integer(1, 10_000, d.http2.maxConcurrentStreams),
  websocket: boolean(d.http2.websocket),
});
const CERTIFICATE = object({ cert: string(), key: string() }, { required: ['cert', 'key'] });
const WATCH = object({ settle: duration(d.tls.watch.settle, 0), recheck: duration(d.tls.watch.recheck, 0) });
const TLS = object({
  minVersion: oneOf(['TLSv1.3', 'TLSv1.2'] as const, d.tls.minVersion),
  ciphers: string(d.tls.ciphers),
  certificates: list(CERTIFICATE),
  watch: WATCH,
  acme: ACME,
});
const HSTS = object({ maxAge: duration(d.hsts.maxAge), includeSubDomains: boolean(d.hsts.includeSubDomains), preload: boolean(d.hsts.preload) });
const REDIRECT = object({ status: oneOf([301, 302, 307, 308] as const, d.redirect.status), acmeWebroot: string(d.redirect.acmeWebroot) });
// 0 is meaningful only for these two: tunnels never idle out, drain closes at once.
const TIMEOUTS = object({
  connect: duration(d.timeouts.connect, 1),
  response: duration(d.timeouts.response, 1),
  idle: duration(d.timeouts.idle, 1),
  headers: duration(d.timeouts.headers, 1),
  handshake: duration(d.timeouts.handshake, 1),
  websocketIdle: duration(d.timeouts.websocketIdle, 0),
  drain: duration(d.timeouts.drain, 0),
});
const LIMITS = object({
  headerSize: size(1024, 1_048_576, d.limits.headerSize),
  bodySize: size(0, Number.MAX_SAFE_INTEGER, d.limits.bodySize),
  connections: integer(0, 10_000_000, d.limits.connections),
  connectionsPerIp: integer(0, 10_000_000, d.limits.connectionsPerIp),
});
const WORKERS = integer(1, 1024, d.workers);
const LOG = object({ level: oneOf(LOG_LEVELS, d.log.level), format: oneOf(['json', 'pretty'] as const, d.log.format), access: oneOf(['json', 'combined'] as const, d.log.access) });

/** The whole config file. A new section: declare its shape (shape.ts builders), add it here, read it in validate(). */
export const CONFIG = object({
  listen: LISTEN,
  http2: HTTP2,
  tls: TLS,
  hsts: HSTS,
  redirect: REDIRECT,
  upstreams: UPSTREAMS,
  sites: list(SITE, { minItems: 1 }),
  trustedProxies: list(cidr(), { default: d.trustedProxies }),
  timeouts: TIMEOUTS,
  limits: LIMITS,
  workers: anyOf([WORKERS, oneOf(['auto'] as const)], d.workers),
  log: LOG,
  rateLimits: RATE_LIMITS,
  cache: CACHE_STORE,
}, { required: ['tls', 'sites'] }) satisfies Shape;

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
  const top = r.object(raw, [], keysOf(CONFIG)) ?? {};

  const listen = readListen(r, top.listen);
  const http2 = fields(r, r.object(top.http2, ['http2'], keysOf(HTTP2)) ?? {}, ['http2'], HTTP2);
  const tlsNoAcme = readTls(r, top.tls, dir);
  const hsts = readHsts(r, top.hsts);
  const redirect = readRedirect(r, top.redirect, dir);
  const upstreams = readUpstreams(r, top.upstreams, dir);
  const rateLimits = readRateLimits(r, top.rateLimits);
  const timeouts = readTimeouts(r, top.timeouts);
  const cache = readCacheStore(r, top.cache, dir);
  const sites = readSites(r, top.sites, upstreams, { https: listen.httpsAll.map((a) => a.port), http: listen.http?.port ?? null }, { dir, rateLimits, cache }, timeouts);
  const tls = { ...tlsNoAcme, acme: readAcme(r, (top.tls as Record<string, unknown> | undefined)?.acme, { dir, sites, listen, certificates: tlsNoAcme.certificates.length }) };
  const trustedProxies = (r.list(top.trustedProxies, ['trustedProxies']) ?? d.trustedProxies)
    .map((v, i) => r.cidr(v, ['trustedProxies', i]))
    .filter((c): c is Cidr => c !== undefined);
  const limits = fields(r, r.object(top.limits, ['limits'], keysOf(LIMITS)) ?? {}, ['limits'], LIMITS);
  const workers = top.workers === undefined || top.workers === 'auto' ? top.workers ?? d.workers
    : WORKERS.read(r, top.workers, ['workers']) ?? WORKERS.fallback;
  const log = fields(r, r.object(top.log, ['log'], keysOf(LOG)) ?? {}, ['log'], LOG);

  const failed = r.issues.some((i) => i.severity === 'error');
  const config: Config | undefined = failed ? undefined : {
    file, listen, http2, tls, hsts, redirect, upstreams, sites, trustedProxies, timeouts, limits,
    workers: workers as number | 'auto', log, rateLimits, cache,
  };
  return { config, issues: r.issues, tls };
}

function readListen(r: Reader, raw: unknown): Config['listen'] {
  const o = r.object(raw, ['listen'], keysOf(LISTEN)) ?? {};
  const http = given(r, o, ['listen'], 'http', LISTEN.keys.http);
  let admin = given(r, o, ['listen'], 'admin', LISTEN.keys.admin);
  // A bare admin port binds loopback: metrics are not for the internet unless asked for by address.
  if (admin && admin.host === undefined) admin = { host: '127.0.0.1', port: admin.port };
  const httpsAll = readHttps(r, o.https ?? d.listen.https, d.listen.https, [{ key: 'listen.http', address: http ?? null }, { key: 'listen.admin', address: admin ?? null }]);
  const https = httpsAll[0] as ListenAddress;
  const proxyProtocol = (r.list(o.proxyProtocol ?? d.listen.proxyProtocol, ['listen', 'proxyProtocol']) ?? [])
    .map((v, i) => r.cidr(v, ['listen', 'proxyProtocol', i]))
    .filter((c): c is Cidr => c !== undefined);
  return { http: http ?? null, https, httpsAll, admin: admin ?? null, proxyProtocol };
}

/** Everything of `tls` but `acme`, which needs the sites (its default hosts) and is read after them. */
function readTls(r: Reader, raw: unknown, dir: string): Omit<Config['tls'], 'acme'> {
  const o = r.object(raw, ['tls'], keysOf(TLS)) ?? {};
  const minVersion = field(r, o, ['tls'], 'minVersion', TLS.keys.minVersion);
  if (minVersion === 'TLSv1.2') {
    r.warn(['tls', 'minVersion'], 'TLSv1.2 is allowed: clients may negotiate TLS 1.2; the default TLSv1.3 refuses it');
  }
  let ciphers: string = d.tls.ciphers;
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
    const e = r.object(entry, path, keysOf(CERTIFICATE)) ?? {};
    const cert = e.cert === undefined ? r.error(path, 'missing "cert" (path to the PEM certificate chain)') : r.string(e.cert, [...path, 'cert']);
    const key = e.key === undefined ? r.error(path, 'missing "key" (path to the PEM private key)') : r.string(e.key, [...path, 'key']);
    if (cert !== undefined && key !== undefined) certificates.push({ cert: resolve(dir, cert), key: resolve(dir, key) });
  });
  const watch = fields(r, r.object(o.watch, ['tls', 'watch'], keysOf(WATCH)) ?? {}, ['tls', 'watch'], WATCH);
  if (watch.recheck < 1000) r.error(['tls', 'watch', 'recheck'], 'a re-check more often than every second would only burn CPU');
  return { minVersion, ciphers, certificates, watch };
}

function readHsts(r: Reader, raw: unknown): Config['hsts'] {
  const given = fields(r, r.object(raw, ['hsts'], keysOf(HSTS)) ?? {}, ['hsts'], HSTS);
  const { includeSubDomains, preload } = given;
  const maxAge = Math.floor(given.maxAge / 1000);
  // hstspreload.org refuses submissions without both; a preload flag alone only misleads.
  if (preload && (maxAge < YEAR_SECONDS || !includeSubDomains)) {
    r.warn(['hsts', 'preload'], 'preload lists require maxAge >= 1y and includeSubDomains: true');
  }
  return { maxAge, includeSubDomains, preload };
}

function readRedirect(r: Reader, raw: unknown, dir: string): Config['redirect'] {
  const o = r.object(raw, ['redirect'], keysOf(REDIRECT)) ?? {};
  const status = field(r, o, ['redirect'], 'status', REDIRECT.keys.status);
  const webroot = o.acmeWebroot === undefined || o.acmeWebroot === null ? undefined : r.string(o.acmeWebroot, ['redirect', 'acmeWebroot']);
  return { status, acmeWebroot: webroot === undefined ? null : resolve(dir, webroot) };
}

function readTimeouts(r: Reader, raw: unknown): Config['timeouts'] {
  return fields(r, r.object(raw, ['timeouts'], keysOf(TIMEOUTS)) ?? {}, ['timeouts'], TIMEOUTS);
}
