import type { CacheStoreConfig, RouteCacheConfig } from './cache.js';
import type { RateLimitsConfig, RouteGuardConfig } from './guard.js';
import type { CompressConfig, ErrorPagesConfig, FilesConfig } from './files.js';
import type { Template } from './template.js';
import type { Cidr, ListenAddress, TargetConfig, UpstreamTls } from './primitives.js';

export type { Cidr, ListenAddress, TargetConfig, UpstreamTls };

/** The validated, fully-defaulted, deep-frozen configuration. Durations are milliseconds. */
export interface Config {
  /** Absolute path of the file this came from; relative paths in it were resolved against its folder. */
  readonly file: string;
  readonly listen: ListenConfig;
  readonly http2: Http2Config;
  readonly tls: TlsConfig;
  readonly hsts: HstsConfig;
  readonly redirect: RedirectConfig;
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  readonly sites: readonly SiteConfig[];
  readonly trustedProxies: readonly Cidr[];
  readonly timeouts: TimeoutsConfig;
  readonly limits: LimitsConfig;
  readonly workers: number | 'auto';
  readonly log: LogConfig;
  /** Named rate-limit budgets (README "Rate limits"). */
  readonly rateLimits: RateLimitsConfig;
  /** The response cache's store (README "Caching"); null: no route caches. */
  readonly cache: CacheStoreConfig | null;
}

export interface ListenConfig {
  readonly http: ListenAddress | null;
  /** The first of `httpsAll`: the port :80 redirects to and default WebSocket origins name. */
  readonly https: ListenAddress;
  /** Every `listen.https` address (one or more), in the order given; each serves every site alike. */
  readonly httpsAll: readonly ListenAddress[];
  readonly admin: ListenAddress | null;
  /** Peers (L4 balancers) whose connections on :443 and :80 must start with a PROXY v1/v2 header. */
  readonly proxyProtocol: readonly Cidr[];
}

export interface Http2Config {
  /** ALPN offers h2 before http/1.1 (never h2c). */
  readonly enabled: boolean;
  /** SETTINGS_MAX_CONCURRENT_STREAMS per client connection. */
  readonly maxConcurrentStreams: number;
  /** RFC 8441 extended CONNECT (WebSockets over h2), bridged to an HTTP/1.1 upgrade upstream. */
  readonly websocket: boolean;
}

export type TlsVersion = 'TLSv1.2' | 'TLSv1.3';

export interface CertificatePaths {
  readonly cert: string;
  readonly key: string;
}

export interface TlsConfig {
  readonly minVersion: TlsVersion;
  readonly ciphers: string;
  readonly certificates: readonly CertificatePaths[];
  /** Certificate file watching: quiet time before reading, and the slow periodic re-check (ms). */
  readonly watch: { readonly settle: number; readonly recheck: number };
  /** Certificates Gatehouse obtains itself (RFC 8555); null when the block is absent. */
  readonly acme: AcmeConfig | null;
}

export type AcmeChallengeType = 'http-01' | 'tls-alpn-01';

/** `tls.acme`: the CA to order from, where its files live, and which names it covers. */
export interface AcmeConfig {
  readonly directory: string;
  readonly email: string | null;
  /** Absolute folder holding the account key, certificates, challenge tokens, state and lock. */
  readonly storage: string;
  /** Lower-case DNS names, one certificate each. */
  readonly hosts: readonly string[];
  /** PEM trusted for the directory's own TLS instead of the system store; null: system store. */
  readonly ca: string | null;
  readonly challenge: AcmeChallengeType;
  /** ACME profile asked for on new orders (Let's Encrypt: classic, tlsserver, shortlived); null: the CA's default. */
  readonly profile: string | null;
}

export interface HstsConfig {
  /** seconds */
  readonly maxAge: number;
  readonly includeSubDomains: boolean;
  readonly preload: boolean;
}

export interface RedirectConfig {
  readonly status: 301 | 302 | 307 | 308;
  readonly acmeWebroot: string | null;
}

export interface HealthCheckConfig {
  readonly path: string;
  readonly interval: number;
  readonly timeout: number;
  /** http: GET expecting 2xx/3xx; websocket: a WebSocket handshake must succeed. */
  readonly type: 'http' | 'websocket';
}

export interface UpstreamConfig {
  readonly name: string;
  readonly targets: readonly TargetConfig[];
  /** Used only when no target is healthy (nginx's `server … backup`); [] when none. */
  readonly backup: readonly TargetConfig[];
  readonly hash: { readonly ipv4Prefix: number; readonly ipv6Prefix: number };
  readonly healthCheck: HealthCheckConfig | null;
  /** 0 disables passive health. */
  readonly maxFails: number;
  readonly failTimeout: number;
  /** Idle keep-alive connections kept per target (nginx's `keepalive N`); 0: a new connection per request, closed after it. */
  readonly keepalive: number;
  /** How long an idle pooled connection is kept (nginx's `keepalive_timeout`); below the backends' own. */
  readonly keepaliveTimeout: number;
}

export interface WebSocketPolicy {
  /** Lower-case serialised origins ("https://a.example") or patterns ("https://*.example.com"). */
  readonly origins: readonly string[];
  readonly allowMissingOrigin: boolean;
}

/** How a route chooses paths (README "Routes, headers, redirects: coming from nginx"): nginx's `location /p`, `location = /p`, `location ~ re`. */
export type RouteMatcher =
  | { readonly kind: 'prefix'; readonly path: string; readonly overridesRegex: boolean }
  | { readonly kind: 'exact'; readonly path: string }
  | { readonly kind: 'regex'; readonly source: string; readonly caseInsensitive: boolean };

export type RedirectStatus = 301 | 302 | 303 | 307 | 308;

/** The one thing a route does (README "Routes, headers, redirects: coming from nginx", "Serving files"). */
export type RouteAction =
  | {
    readonly kind: 'upstream';
    readonly upstream: string;
    readonly stripPrefix: boolean;
    /** The path sent upstream instead of the client's (query kept); null: the client's own. */
    readonly rewrite: Template | null;
    /** Location, Content-Location and Refresh on the target's origin point back at the client-facing one. */
    readonly rewriteLocation: boolean;
  }
  | { readonly kind: 'redirect'; readonly to: Template; readonly status: RedirectStatus; readonly absolute: boolean }
  | {
    readonly kind: 'respond';
    readonly status: number;
    readonly body: Template | null;
    /** Lower-case name → value; content-type defaults to text/plain; charset=utf-8. */
    readonly headers: readonly HeaderEntry[];
  }
  /** Static files (README "Serving files"): the route's `files` block says how; `files.fallback` names the upstream asked when no file matches. */
  | { readonly kind: 'files' };

export interface HeaderEntry {
  /** Lower-case. */
  readonly name: string;
  readonly value: Template;
}

/** One `set`/`add`/`remove` block, names lower-case (README "Header rules"). */
export interface HeaderOps {
  readonly set: readonly HeaderEntry[];
  readonly add: readonly HeaderEntry[];
  readonly remove: readonly string[];
}

export interface ResponseHeaderBlock extends HeaderOps {
  /** The statuses the block applies to; null: every answer (nginx's `always`). */
  readonly statuses: readonly number[] | null;
}

/** A route's rules with its site's merged in at load (the route wins per name). */
export interface HeaderRules {
  readonly request: HeaderOps | null;
  readonly response: readonly ResponseHeaderBlock[];
}

export interface RouteConfig {
  /** What `route`, logs and metrics call it: the prefix or exact path, or the regex source. */
  readonly path: string;
  readonly match: RouteMatcher;
  /** Upper-case; GET brings HEAD. null: every method. */
  readonly methods: readonly string[] | null;
  readonly scheme: 'http' | 'https' | null;
  readonly action: RouteAction;
  readonly headers: HeaderRules | null;
  /** limits.bodySize for this route; null: the global one. */
  readonly bodySize: number | null;
  readonly timeouts: RouteTimeouts | null;
  readonly websocket: WebSocketPolicy;
  /** access, auth, rateLimit (README "Access control", "Rate limits"); null when the route uses none. */
  readonly guard: RouteGuardConfig | null;
  /** Static files, compression (the route's own, else its site's) and X-Accel-Redirect targets: config/files.ts. */
  readonly files: FilesConfig | null;
  readonly compress: CompressConfig | null;
  readonly internal: boolean;
  /** false: the route's requests write no access line (nginx's `access_log off`); metrics still count them. */
  readonly accessLog: boolean;
  /** The route's response cache (config/cache.ts); null: answers are never stored. */
  readonly cache: RouteCacheConfig | null;
}

export interface RouteTimeouts {
  readonly connect: number;
  readonly response: number;
  readonly idle: number;
  readonly websocketIdle: number;
}

export interface SiteConfig {
  /** Lower-case host names; "*.example.com" matches one or more labels below example.com. */
  readonly hosts: readonly string[];
  readonly routes: readonly RouteConfig[];
  readonly errorPages: ErrorPagesConfig | null;
  /** `redirect:` — the whole site answers this (www → apex); its routes are then empty. */
  readonly redirect: { readonly to: Template; readonly status: RedirectStatus; readonly absolute: boolean } | null;
  /** serve: the :80 listener serves this site's routes; redirect: it sends them to https. */
  readonly plainHttp: 'redirect' | 'serve';
  /** Site-level rules, for answers no route gave (404, 405, 421 of this site). */
  readonly headers: HeaderRules | null;
}

export interface TimeoutsConfig {
  readonly connect: number;
  readonly response: number;
  readonly idle: number;
  readonly headers: number;
  readonly handshake: number;
  readonly websocketIdle: number;
  readonly drain: number;
}

export interface LimitsConfig {
  /** Largest request head in bytes (Node's maxHeaderSize); larger gets 431. */
  readonly headerSize: number;
  /** Largest request body in bytes; 0 = unlimited. Larger gets 413. */
  readonly bodySize: number;
  /** Open client connections per process (:443 and :80); 0 = no cap. */
  readonly connections: number;
  /** Open client connections per client address (after PROXY protocol); 0 = no cap. */
  readonly connectionsPerIp: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface LogConfig {
  readonly level: LogLevel;
  readonly format: 'json' | 'pretty';
  /** Access lines ("request" events): pino JSON like every event, or nginx's combined format. */
  readonly access: 'json' | 'combined';
}
