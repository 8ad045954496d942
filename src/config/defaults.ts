import { CACHE_DEFAULTS } from './cache.js';
import { GUARD_DEFAULTS } from './guard.js';

export const TLS13_CIPHERS = 'TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256';
/** Added for TLS 1.2 clients only when `minVersion: TLSv1.2` and no `ciphers` were given (Mozilla "intermediate"). */
export const TLS12_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:' +
  'ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305';

/** Every default in one place; README's config reference mirrors this literal. */
export const DEFAULTS = {
  listen: { http: 80, https: 443, admin: false, proxyProtocol: [] },
  http2: { enabled: true, maxConcurrentStreams: 128, websocket: true },
  tls: {
    minVersion: 'TLSv1.3', ciphers: TLS13_CIPHERS, watch: { settle: '250ms', recheck: '5m' },
    acme: { directory: 'https://acme-v02.api.letsencrypt.org/directory', email: null, storage: 'acme', ca: null, challenge: 'http-01', profile: null },
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
  route: { path: '/', caseInsensitive: false, overridesRegex: false, stripPrefix: false, rewriteLocation: true, accessLog: true },
  site: { plainHttp: 'redirect' },
  trustedProxies: [],
  websocket: { allowMissingOrigin: false },
  timeouts: {
    connect: '5s', response: '60s', idle: '60s', headers: '10s', handshake: '10s', websocketIdle: '1h', drain: '30s',
  },
  limits: { headerSize: 16384, bodySize: 0, connections: 0, connectionsPerIp: 0 },
  workers: 1,
  log: { level: 'info', format: 'json', access: 'json' },
  /** rateLimits.NAME and routes[].auth.basic (config/guard.ts reads them). */
  rateLimit: GUARD_DEFAULTS.rateLimit,
  access: GUARD_DEFAULTS.access,
  basicAuth: GUARD_DEFAULTS.basic,
  forwardAuth: GUARD_DEFAULTS.forward,
  /** `cache:` and routes[].cache (config/cache.ts reads them). */
  cache: CACHE_DEFAULTS,
} as const;

