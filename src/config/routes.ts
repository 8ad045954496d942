import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import { FILES, COMPRESS } from './files.js';
import { ACCESS, AUTH } from './guard.js';
import { HEADERS, HEADER_VALUE, mergeRules, readHeaderRules, readValue, templatesOf } from './headers.js';
import { compileRouteRegex, groupsOf } from './regex.js';
import { parseTemplate, urlTarget, type Template, type TemplatePart } from './template.js';
import type {
  HeaderEntry, HeaderRules, RedirectStatus, RouteAction, RouteConfig, RouteMatcher, RouteTimeouts, TimeoutsConfig, UpstreamConfig, WebSocketPolicy,
} from './types.js';
import { boolean, duration, field, integer, keysOf, list, map, object, oneOf, size, string, text } from './shape.js';
import type { Path, Reader } from './values.js';
import { ROUTE_CACHE } from './cache.js';

/** What reading a route needs from the rest of the config. */
export interface RouteContext {
  readonly dir: string;
  readonly upstreams: ReadonlyMap<string, UpstreamConfig>;
  readonly timeouts: TimeoutsConfig;
  readonly plainHttp: 'redirect' | 'serve';
  readonly siteHeaders: HeaderRules | null;
  readonly websocket: (raw: unknown, path: Path) => WebSocketPolicy;
}

const ACTIONS = ['upstream', 'redirect', 'respond', 'files'] as const;
const REDIRECT_STATUSES: readonly RedirectStatus[] = [301, 302, 303, 307, 308];
const METHOD = /^[!#$%&'*+.^`|~0-9A-Z-]+$/;
const MAX_BODY_FILE = 1024 * 1024;
const ROUTE_TIMEOUTS = ['connect', 'response', 'idle', 'websocketIdle'] as const;
const d = DEFAULTS.route;

/** `routes[].websocket` (sites.ts reads it: its default origins are the site's hosts). */
export const WEBSOCKET = object({ origins: list(string()), allowMissingOrigin: boolean(DEFAULTS.websocket.allowMissingOrigin) });
/** `redirect: { to, status }` of a route or a whole site. */
export const REDIRECT = object({ to: string(), status: oneOf(REDIRECT_STATUSES, 302) }, { required: ['to'] });
const RESPOND = object({ status: integer(200, 599, 200), body: text(), bodyFile: string(), headers: map(HEADER_VALUE) });
const TIMEOUTS = object({ connect: duration(undefined, 1), response: duration(undefined, 1), idle: duration(undefined, 1), websocketIdle: duration(undefined, 0) });

/** `sites[].routes[]`: every key a route may have, in the order messages list them. */
export const ROUTE = object({
  path: string(d.path),
  exact: string(),
  regex: string(),
  caseInsensitive: boolean(d.caseInsensitive),
  overridesRegex: boolean(d.overridesRegex),
  methods: list(string(), { minItems: 1 }),
  scheme: oneOf(['http', 'https'] as const),
  upstream: string(),
  redirect: REDIRECT,
  respond: RESPOND,
  stripPrefix: boolean(d.stripPrefix),
  rewrite: string(),
  rewriteLocation: boolean(d.rewriteLocation),
  accessLog: boolean(d.accessLog),
  headers: HEADERS,
  limits: object({ bodySize: size(0, Number.MAX_SAFE_INTEGER) }),
  timeouts: TIMEOUTS,
  websocket: WEBSOCKET,
  // Read by config/guard.ts and config/files.ts on the same object.
  access: ACCESS,
  auth: AUTH,
  rateLimit: string(),
  files: FILES,
  compress: COMPRESS,
  internal: boolean(false),
  cache: ROUTE_CACHE,
});
const k = ROUTE.keys;

/** A route as this file reads it; its guard and files keys are added by schema.ts. */
export type RouteBase = Omit<RouteConfig, 'guard' | 'files' | 'compress' | 'internal' | 'cache'>;

export function readRoute(r: Reader, raw: unknown, rp: Path, ctx: RouteContext): RouteBase | undefined {
  const ro = r.object(raw, rp, keysOf(ROUTE)) ?? {};
  const match = readMatcher(r, ro, rp);
  const methods = ro.methods === undefined ? null : readMethods(r, ro.methods, [...rp, 'methods']);
  const scheme = ro.scheme === undefined ? null : r.oneOf(ro.scheme, [...rp, 'scheme'], ['http', 'https'] as const) ?? null;
  if (scheme === 'http' && ctx.plainHttp !== 'serve') r.error([...rp, 'scheme'], 'scheme: http matches only requests on :80, which this site redirects: set plainHttp: serve');
  const given = ACTIONS.filter((a) => ro[a] !== undefined);
  if (given.length !== 1) {
    r.error(rp, given.length === 0 ? 'a route needs one action: upstream, files, redirect or respond' : `a route has one action, not ${given.join(' and ')}`);
    return undefined;
  }
  const action = readAction(r, ro, rp, ctx, given[0] as typeof ACTIONS[number], match);
  const own = readHeaderRules(r, ro.headers, [...rp, 'headers']);
  const headers = mergeRules(ctx.siteHeaders, own);
  const limits = r.object(ro.limits, [...rp, 'limits'], keysOf(ROUTE.keys.limits)) ?? {};
  const bodySize = limits.bodySize === undefined ? null : r.size(limits.bodySize, [...rp, 'limits', 'bodySize'], 0, Number.MAX_SAFE_INTEGER) ?? null;
  const timeouts = ro.timeouts === undefined ? null : readRouteTimeouts(r, ro.timeouts, [...rp, 'timeouts'], ctx.timeouts);
  const websocket = ctx.websocket(ro.websocket, [...rp, 'websocket']);
  if (match === undefined || action === undefined) return undefined;
  const templates = [...actionTemplates(action), ...templatesOf(own)];
  checkPlaceholders(r, rp, match, templates);
  const label = match.kind === 'regex' ? match.source : match.path;
  const accessLog = field(r, ro, rp, 'accessLog', k.accessLog);
  return { path: label, match, methods, scheme, action, headers, bodySize, timeouts, websocket, accessLog };
}

function readMatcher(r: Reader, ro: Record<string, unknown>, rp: Path): RouteMatcher | undefined {
  const kinds = (['path', 'exact', 'regex'] as const).filter((k) => ro[k] !== undefined);
  if (kinds.length > 1) return r.error(rp, `a route matches by one of path, exact or regex, not ${kinds.join(' and ')}`);
  if (ro.caseInsensitive !== undefined && kinds[0] !== 'regex') r.error([...rp, 'caseInsensitive'], 'caseInsensitive applies to regex routes');
  if (ro.overridesRegex !== undefined && kinds[0] === 'regex') r.error([...rp, 'overridesRegex'], 'overridesRegex applies to path (prefix) routes');
  if (ro.overridesRegex !== undefined && kinds[0] === 'exact') r.error([...rp, 'overridesRegex'], 'an exact route already wins over regex routes');
  if (kinds[0] === 'regex') {
    const source = r.string(ro.regex, [...rp, 'regex']);
    const caseInsensitive = field(r, ro, rp, 'caseInsensitive', k.caseInsensitive);
    if (source === undefined) return undefined;
    const compiled = compileRouteRegex(source, caseInsensitive);
    return typeof compiled === 'string' ? r.error([...rp, 'regex'], compiled) : { kind: 'regex', source, caseInsensitive };
  }
  const key = kinds[0] ?? 'path';
  const path = r.string(ro[key] ?? d.path, [...rp, key]);
  if (path === undefined) return undefined;
  if (!path.startsWith('/')) return r.error([...rp, key], `a route ${key} starts with "/"`);
  if (key === 'exact') return { kind: 'exact', path };
  const overridesRegex = field(r, ro, rp, 'overridesRegex', k.overridesRegex);
  return { kind: 'prefix', path, overridesRegex };
}

function readMethods(r: Reader, raw: unknown, path: Path): readonly string[] | null {
  const list = r.list(raw, path) ?? [];
  if (list.length === 0) r.error(path, 'expected a list of methods, e.g. [GET, POST]');
  const methods = new Set<string>();
  list.forEach((m, i) => {
    if (typeof m !== 'string' || !METHOD.test(m)) return void r.error([...path, i], 'expected an upper-case method name such as GET');
    methods.add(m);
    // RFC 9110 §9.3.2: HEAD is GET without the body; a GET route serves it, as nginx does.
    if (m === 'GET') methods.add('HEAD');
  });
  return [...methods];
}

function readAction(r: Reader, ro: Record<string, unknown>, rp: Path, ctx: RouteContext, kind: typeof ACTIONS[number], match: RouteMatcher | undefined): RouteAction | undefined {
  for (const key of ['stripPrefix', 'rewrite', 'rewriteLocation'] as const) {
    if (kind !== 'upstream' && ro[key] !== undefined) r.error([...rp, key], `${key} applies to routes with an upstream`);
  }
  if (kind === 'redirect') return readRedirect(r, ro.redirect, [...rp, 'redirect']);
  if (kind === 'respond') return readRespond(r, ro.respond, [...rp, 'respond'], ctx.dir);
  if (kind === 'files') return { kind: 'files' };
  const upstream = r.string(ro.upstream, [...rp, 'upstream']);
  if (upstream !== undefined && !ctx.upstreams.has(upstream)) {
    const known = [...ctx.upstreams.keys()];
    r.error([...rp, 'upstream'], `unknown upstream "${upstream}"${known.length > 0 ? ` (defined: ${known.join(', ')})` : ' (define it under upstreams:)'}`);
  }
  const stripPrefix = field(r, ro, rp, 'stripPrefix', k.stripPrefix);
  if (stripPrefix && match !== undefined && match.kind !== 'prefix') r.error([...rp, 'stripPrefix'], 'stripPrefix applies to path (prefix) routes; use rewrite with {re.N} for a regex route');
  if (stripPrefix && ro.rewrite !== undefined) r.error([...rp, 'rewrite'], 'rewrite replaces the whole path: drop stripPrefix, or use {rest}');
  let rewrite: Template | null = null;
  if (ro.rewrite !== undefined) {
    const text = r.string(ro.rewrite, [...rp, 'rewrite']);
    if (text !== undefined && !text.startsWith('/')) r.error([...rp, 'rewrite'], 'a rewritten path starts with "/"');
    rewrite = (text === undefined ? undefined : readValue(r, text, [...rp, 'rewrite'])) ?? null;
  }
  const rewriteLocation = field(r, ro, rp, 'rewriteLocation', k.rewriteLocation);
  return upstream === undefined ? undefined : { kind: 'upstream', upstream, stripPrefix, rewrite, rewriteLocation };
}

/** `redirect: { to, status }` of a route or a whole site. */
export function readRedirect(r: Reader, raw: unknown, path: Path): Extract<RouteAction, { kind: 'redirect' }> | undefined {
  const o = r.object(raw, path, keysOf(REDIRECT)) ?? {};
  const status = field(r, o, path, 'status', REDIRECT.keys.status);
  const text = r.string(o.to, [...path, 'to']);
  if (text === undefined) return undefined;
  // Only a `to` that writes its own scheme and authority may leave this host; a path-only one stays on it whatever its placeholders expand to (no open redirect).
  const target = urlTarget(text);
  if (typeof target === 'string') return r.error([...path, 'to'], target);
  const to = readValue(r, text, [...path, 'to']);
  return to === undefined ? undefined : { kind: 'redirect', to, status, absolute: target.absolute };
}

function readRespond(r: Reader, raw: unknown, path: Path, dir: string): RouteAction | undefined {
  const o = r.object(raw, path, keysOf(RESPOND)) ?? {};
  const status = field(r, o, path, 'status', RESPOND.keys.status);
  if (o.body !== undefined && o.bodyFile !== undefined) r.error([...path, 'bodyFile'], 'a respond has body or bodyFile, not both');
  let body: Template | null = null;
  if (o.body !== undefined) {
    const text = typeof o.body === 'string' ? o.body : r.error([...path, 'body'], 'expected a string');
    const parsed = text === undefined ? undefined : parseTemplate(text);
    if (typeof parsed === 'string') r.error([...path, 'body'], parsed);
    else if (parsed !== undefined) body = parsed;
  } else if (o.bodyFile !== undefined) {
    body = readBodyFile(r, o.bodyFile, [...path, 'bodyFile'], dir);
  }
  if ((status === 204 || status === 304) && body !== null) r.error([...path, 'body'], `a ${status} answer has no body (RFC 9110 §15.3.5, §15.4.5)`);
  const headers: HeaderEntry[] = [];
  const ho = r.object(o.headers, [...path, 'headers'], Object.keys((o.headers ?? {}) as object)) ?? {};
  for (const [name, value] of Object.entries(ho)) {
    const lower = name.toLowerCase();
    if (!/^[!#$%&'*+.^`|~0-9A-Za-z-]+$/.test(name) || ['content-length', 'transfer-encoding', 'connection', 'strict-transport-security'].includes(lower)) {
      r.error([...path, 'headers', name], `${name} cannot be set on an answer: the edge writes it`, 'key');
      continue;
    }
    const template = readValue(r, value, [...path, 'headers', name]);
    if (template !== undefined) headers.push({ name: lower, value: template });
  }
  return { kind: 'respond', status, body, headers };
}

/** The file's bytes as they are (no placeholders: a page may well contain braces). */
function readBodyFile(r: Reader, raw: unknown, path: Path, dir: string): Template | null {
  const name = r.string(raw, path);
  if (name === undefined) return null;
  try {
    const text = readFileSync(resolve(dir, name), 'utf8');
    if (Buffer.byteLength(text) > MAX_BODY_FILE) return r.error(path, `${name} is larger than 1m: serve it from the upstream (or files) instead`) ?? null;
    return [text];
  } catch (err) {
    return r.error(path, `cannot read ${name} (${(err as NodeJS.ErrnoException).code ?? String(err)})`) ?? null;
  }
}

function readRouteTimeouts(r: Reader, raw: unknown, path: Path, global: TimeoutsConfig): RouteTimeouts {
  const o = r.object(raw, path, keysOf(TIMEOUTS)) ?? {};
  const out = { connect: global.connect, response: global.response, idle: global.idle, websocketIdle: global.websocketIdle };
  for (const key of ROUTE_TIMEOUTS) {
    if (o[key] !== undefined) out[key] = r.timer(o[key], [...path, key], key === 'websocketIdle' ? 0 : 1) ?? out[key];
  }
  return out;
}

function actionTemplates(action: RouteAction): Template[] {
  if (action.kind === 'redirect') return [action.to];
  if (action.kind === 'respond') return [...(action.body === null ? [] : [action.body]), ...action.headers.map((h) => h.value)];
  if (action.kind === 'files') return [];
  return action.rewrite === null ? [] : [action.rewrite];
}

/** `{re.*}` needs a regex route with that group; `{rest}` a prefix route (site rules: neither). */
export function checkPlaceholders(r: Reader, rp: Path, match: RouteMatcher | undefined, templates: readonly Template[]): void {
  const groups = match?.kind === 'regex' ? groupsOf(match.source) : undefined;
  const seen = new Set<string>();
  for (const part of templates.flat() as TemplatePart[]) {
    if (typeof part === 'string') continue;
    if (part.kind === 're') {
      const ok = groups !== undefined && (typeof part.group === 'number' ? part.group <= groups.count : groups.names.includes(part.group));
      const text = `{re.${part.group}}`;
      if (!ok && !seen.has(text)) r.error(rp, groups === undefined ? `${text} needs a regex route (captures come from its regex)` : `${text}: the regex has no such group`);
      seen.add(text);
    } else if (part.kind === 'var' && part.name === 'rest' && match?.kind !== 'prefix' && !seen.has('rest')) {
      seen.add('rest');
      r.error(rp, '{rest} is the path after a prefix route\'s path: this route is not a prefix route');
    }
  }
}
