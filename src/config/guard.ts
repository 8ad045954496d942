import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Cidr } from './primitives.js';
import { boolean, cidr, field, fields, integer, keysOf, list, map, object, string } from './shape.js';
import { parseTemplate, urlTarget, type Template } from './template.js';
import type { Path, Reader } from './values.js';

/** `routes[].access` (README "Access control"): methods, then deny, then allow, on the client address (past trustedProxies and a PROXY header). */
export interface AccessConfig {
  /** Upper-case methods; GET implies HEAD (RFC 9110 §9.3.2). null: every method. */
  readonly methods: readonly string[] | null;
  readonly allow: readonly Cidr[];
  readonly deny: readonly Cidr[];
}

/** `auth.basic`: an htpasswd file, read at load (for `check`) and re-read when it changes. */
export interface BasicAuthConfig {
  readonly realm: string;
  /** Absolute path of the htpasswd file. */
  readonly users: string;
}

/** `auth.forward`: nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`. */
export interface ForwardAuthConfig {
  readonly upstream: string;
  readonly path: string;
  /** Lower-case header names copied from a 2xx auth answer onto the request. */
  readonly copyHeaders: readonly string[];
  /** Where a 401 from the auth service sends the client instead: a 302 to this URL (nginx's `error_page 401 =302 URL`); null: the 401 goes as it is. */
  readonly signIn: Template | null;
}

export interface AuthConfig {
  readonly basic: BasicAuthConfig | null;
  readonly forward: ForwardAuthConfig | null;
}

/** What one route asks of the guard; null on a route that uses none of it (it then costs nothing). */
export interface RouteGuardConfig {
  readonly access: AccessConfig | null;
  readonly auth: AuthConfig | null;
  /** A name under top-level `rateLimits`. */
  readonly rateLimit: string | null;
}

/** One named GCRA budget (README "Rate limits"). */
export interface RateLimitConfig {
  readonly name: string;
  /** As written ("100/s"), for logs. */
  readonly rate: string;
  /** The emission interval T: ms between requests at the sustained rate. */
  readonly interval: number;
  /** Requests served at once beyond the rate. */
  readonly burst: number;
  readonly ipv4Prefix: number;
  readonly ipv6Prefix: number;
  readonly dryRun: boolean;
  /** Emit the IETF draft's RateLimit-Policy and RateLimit fields. */
  readonly headers: boolean;
}

export interface RateLimitsConfig {
  readonly limits: ReadonlyMap<string, RateLimitConfig>;
  /** redis://host:port[/db]: budgets shared by every instance naming it; null: this edge alone. */
  readonly store: string | null;
}

/** The guard's defaults; schema.ts's DEFAULTS carries them, so README's table is checked against them. */
export const GUARD_DEFAULTS = {
  rateLimit: { burst: 0, ipv4Prefix: 32, ipv6Prefix: 64, dryRun: false, headers: false },
  access: { allow: [], deny: [] },
  basic: { realm: 'Restricted' },
  forward: { path: '/', copyHeaders: [] },
} as const;

const RATE = /^(\d+(?:\.\d+)?)\/(s|m)$/;
const gd = GUARD_DEFAULTS;

/** `rateLimits.NAME`, and `rateLimits.store`. */
const RATE_LIMIT = object({
  rate: string(undefined, RATE.source),
  burst: integer(0, 1_000_000, gd.rateLimit.burst),
  ipv4Prefix: integer(0, 32, gd.rateLimit.ipv4Prefix),
  ipv6Prefix: integer(0, 128, gd.rateLimit.ipv6Prefix),
  dryRun: boolean(gd.rateLimit.dryRun),
  headers: boolean(gd.rateLimit.headers),
}, { required: ['rate'] });
export const RATE_LIMITS = map(RATE_LIMIT, { fixed: { store: string(undefined, '^rediss?://[^/\\s]+(/\\d+)?$') } });
/** `routes[].access`. */
export const ACCESS = object({ methods: list(string(), { minItems: 1 }), allow: list(cidr(), { default: gd.access.allow }), deny: list(cidr(), { default: gd.access.deny }) });
const BASIC = object({ realm: string(gd.basic.realm), users: string() }, { required: ['users'] });
const FORWARD = object({ upstream: string(), path: string(gd.forward.path), copyHeaders: list(string(), { default: gd.forward.copyHeaders }), signIn: string() }, { required: ['upstream'] });
/** `routes[].auth`: one of basic and forward. */
export const AUTH = object({ basic: BASIC, forward: FORWARD });
const METHOD = /^[A-Z][A-Z-]*$/;
const HEADER_NAME = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** `rateLimits:` — named budgets plus the optional shared `store`. */
export function readRateLimits(r: Reader, raw: unknown): RateLimitsConfig {
  const limits = new Map<string, RateLimitConfig>();
  if (raw === undefined || raw === null) return { limits, store: null };
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    r.error(['rateLimits'], 'expected a mapping of limit name → { rate: 10/s, burst: 20 }');
    return { limits, store: null };
  }
  let store: string | null = null;
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const path = ['rateLimits', name];
    if (name === 'store') {
      const url = r.string(value, path);
      if (url !== undefined && !/^rediss?:\/\/[^/\s]+(\/\d+)?$/.test(url)) r.error(path, 'expected redis://host:port or rediss://host:port (optionally /db)');
      else if (url !== undefined) store = url;
      continue;
    }
    const o = r.object(value, path, keysOf(RATE_LIMIT)) ?? {};
    const rateText = o.rate === undefined ? r.error(path, 'missing "rate", e.g. rate: 10/s or rate: 5/m') : r.string(o.rate, [...path, 'rate']);
    const m = rateText === undefined ? null : RATE.exec(rateText);
    if (rateText !== undefined && (m === null || Number(m[1]) <= 0)) r.error([...path, 'rate'], 'expected N/s or N/m with N > 0, e.g. 100/s or 5/m');
    const perMs = m === null || m === undefined ? 1 : Number(m[1]) / (m[2] === 's' ? 1000 : 60_000);
    const { burst, ipv4Prefix, ipv6Prefix, dryRun, headers } = fields(r, o, path, RATE_LIMIT);
    limits.set(name, { name, rate: rateText ?? '', interval: 1 / perMs, burst, ipv4Prefix, ipv6Prefix, dryRun, headers });
  }
  return { limits, store };
}

/** What a route's guard keys are checked against. */
export interface GuardContext {
  readonly dir: string;
  readonly upstreams: ReadonlySet<string>;
  readonly rateLimits: RateLimitsConfig;
}

/** The route keys `access`, `auth`, `rateLimit` of one route (its mapping `ro` at `rp`); null when none is set. */
export function readRouteGuard(r: Reader, ro: Record<string, unknown>, rp: Path, ctx: GuardContext): RouteGuardConfig | null {
  if (ro.access === undefined && ro.auth === undefined && ro.rateLimit === undefined) return null;
  const access = ro.access === undefined ? null : readAccess(r, ro.access, [...rp, 'access']);
  const auth = ro.auth === undefined ? null : readAuth(r, ro.auth, [...rp, 'auth'], ctx);
  let rateLimit: string | null = null;
  if (ro.rateLimit !== undefined) {
    const name = r.string(ro.rateLimit, [...rp, 'rateLimit']);
    if (name !== undefined && !ctx.rateLimits.limits.has(name)) {
      const known = [...ctx.rateLimits.limits.keys()];
      r.error([...rp, 'rateLimit'], `unknown rate limit "${name}"${known.length > 0 ? ` (defined: ${known.join(', ')})` : ' (define it under rateLimits:)'}`);
    } else if (name !== undefined) {
      rateLimit = name;
    }
  }
  return { access, auth, rateLimit };
}

function readAccess(r: Reader, raw: unknown, path: Path): AccessConfig {
  const o = r.object(raw, path, keysOf(ACCESS)) ?? {};
  let methods: string[] | null = null;
  if (o.methods !== undefined) {
    methods = [];
    const listed = r.list(o.methods, [...path, 'methods']) ?? [];
    if (listed.length === 0) r.error([...path, 'methods'], 'an empty list would refuse every request: list the methods to allow');
    listed.forEach((v, i) => {
      const m = r.string(v, [...path, 'methods', i]);
      if (m === undefined) return;
      if (!METHOD.test(m)) return void r.error([...path, 'methods', i], `"${m}" is not a method: use upper-case names such as GET, POST`);
      if (!methods?.includes(m)) methods?.push(m);
    });
    if (methods.includes('GET') && !methods.includes('HEAD')) methods.push('HEAD');
  }
  const cidrs = (key: 'allow' | 'deny'): Cidr[] => (r.list(o[key] ?? GUARD_DEFAULTS.access[key], [...path, key]) ?? [])
    .map((v, i) => r.cidr(v, [...path, key, i]))
    .filter((c): c is Cidr => c !== undefined);
  return { methods, allow: cidrs('allow'), deny: cidrs('deny') };
}

function readAuth(r: Reader, raw: unknown, path: Path, ctx: GuardContext): AuthConfig {
  const o = r.object(raw, path, keysOf(AUTH)) ?? {};
  if (o.basic !== undefined && o.forward !== undefined) r.error(path, 'choose one of basic and forward');
  let basic: BasicAuthConfig | null = null;
  if (o.basic !== undefined) {
    const bp = [...path, 'basic'];
    const b = r.object(o.basic, bp, keysOf(BASIC)) ?? {};
    const realm = field(r, b, bp, 'realm', BASIC.keys.realm);
    // RFC 7617 §2: the realm is a quoted-string; a quote or backslash in it would need escaping no browser undoes.
    if (/["\\\r\n]/.test(realm)) r.error([...bp, 'realm'], 'a realm cannot contain quotes, backslashes or line breaks');
    const users = b.users === undefined ? r.error(bp, 'missing "users" (an htpasswd file)') : r.string(b.users, [...bp, 'users']);
    if (users !== undefined) {
      const file = resolve(ctx.dir, users);
      checkHtpasswd(r, file, [...bp, 'users']);
      basic = { realm, users: file };
    }
  }
  let forward: ForwardAuthConfig | null = null;
  if (o.forward !== undefined) {
    const fp = [...path, 'forward'];
    const f = r.object(o.forward, fp, keysOf(FORWARD)) ?? {};
    const upstream = f.upstream === undefined ? r.error(fp, 'missing "upstream" (the auth service, defined under upstreams:)') : r.string(f.upstream, [...fp, 'upstream']);
    if (upstream !== undefined && !ctx.upstreams.has(upstream)) r.error([...fp, 'upstream'], `unknown upstream "${upstream}"`);
    const authPath = field(r, f, fp, 'path', FORWARD.keys.path);
    if (!authPath.startsWith('/')) r.error([...fp, 'path'], 'a path starts with "/"');
    const copyHeaders: string[] = [];
    (r.list(f.copyHeaders ?? GUARD_DEFAULTS.forward.copyHeaders, [...fp, 'copyHeaders']) ?? []).forEach((v, i) => {
      const name = r.string(v, [...fp, 'copyHeaders', i]);
      if (name === undefined) return;
      if (!HEADER_NAME.test(name)) return void r.error([...fp, 'copyHeaders', i], `"${name}" is not a header name`);
      copyHeaders.push(name.toLowerCase());
    });
    const signIn = f.signIn === undefined ? null : readSignIn(r, f.signIn, [...fp, 'signIn']) ?? null;
    if (upstream !== undefined) forward = { upstream, path: authPath, copyHeaders, signIn };
  }
  return { basic, forward };
}

/** What a sign-in URL may read: the request's own facts (the guard decides before a route's captures or request id are made). */
const SIGN_IN_VARIABLES: ReadonlySet<string> = new Set(['scheme', 'host', 'uri', 'query', 'remote_addr']);

/** The first placeholder of `template` a sign-in URL cannot have, as written (`{rest}`), or undefined (the importer asks too). */
export function signInRefused(template: Template): string | undefined {
  for (const part of template) {
    if (typeof part === 'string' || part.kind === 'header' || (part.kind === 'var' && SIGN_IN_VARIABLES.has(part.name))) continue;
    return `{${part.kind === 're' ? `re.${part.group}` : part.name}}`;
  }
  return undefined;
}

/**
 * `auth.forward.signIn`: an absolute URL (the sign-in service's own host) or a path on this host,
 * with placeholders; like `redirect.to`, a path-only one cannot be made to leave the host.
 */
function readSignIn(r: Reader, raw: unknown, path: Path): Template | undefined {
  const text = r.string(raw, path);
  if (text === undefined) return undefined;
  const target = urlTarget(text);
  if (typeof target === 'string') return r.error(path, target);
  if (/[\r\n\0]/.test(text)) return r.error(path, 'a URL cannot contain CR, LF or NUL');
  const template = parseTemplate(text);
  if (typeof template === 'string') return r.error(path, template);
  const refused = signInRefused(template);
  if (refused !== undefined) return r.error(path, `${refused} is not known when auth decides: use {scheme}, {host}, {uri}, {query}, {remote_addr} or {header.NAME}`);
  return template;
}

/** The hash formats `htpasswd` writes; crypt(3) DES and plain text are refused (htpasswd -d/-p). */
export type HashFormat = 'bcrypt' | 'apr1' | 'sha1';

export function hashFormat(hash: string): HashFormat | undefined {
  if (/^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) return 'bcrypt';
  if (hash.startsWith('$apr1$')) return 'apr1';
  if (hash.startsWith('{SHA}')) return 'sha1';
  return undefined;
}

/** At load: the file must exist and every line parse; weak formats are accepted with a warning (`check` shows it). */
function checkHtpasswd(r: Reader, file: string, path: Path): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    r.error(path, `cannot read htpasswd file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return;
  }
  const weak = new Set<string>();
  text.split('\n').forEach((line, i) => {
    const entry = line.trim();
    if (entry === '' || entry.startsWith('#')) return;
    const colon = entry.indexOf(':');
    const format = colon <= 0 ? undefined : hashFormat(entry.slice(colon + 1));
    if (format === undefined) return void r.error(path, `${file}:${i + 1}: expected user:hash with a bcrypt ($2y$), apr1 ($apr1$) or {SHA} hash (htpasswd -B writes bcrypt)`);
    if (format !== 'bcrypt') weak.add(format);
  });
  if (weak.size > 0) r.warn(path, `${file} has ${[...weak].join(' and ')} hashes, which are fast to brute-force: re-create them with htpasswd -B (bcrypt)`);
}
