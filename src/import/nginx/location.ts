import type { Directive } from './parse.js';
import { childScope, levelOf, nearest, nearestOne, type Scope } from './scope.js';
import { meaningless, walk, type Ctx } from './context.js';
import { condition, returnAction, type Action } from './actions.js';
import { headerNames, requestHeaders, responseHeaders, responseValue, type HeaderOpsOut } from './headers.js';
import { capturesOf, jsRegex, NO_CAPTURES, toTemplate, type Captures } from './placeholders.js';
import { expires, routeLimits } from './location-limits.js';
import { accessOnlyAction, rawPrefixStrip, withNamedContent, type RawStrip } from './location-idioms.js';

export type RouteOut = Record<string, unknown>;

const OTHER_PROTOCOLS = new Set(['fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass']);

/** What the locations of one server share. */
export interface SiteEnv {
  ctx: Ctx;
  /** Names a new upstream after the site (`blog` for blog.example). */
  readonly label: string;
  /** add_header names the server level sends (for nginx's inheritance trap). */
  readonly siteResponseNames: readonly string[];
  /** The site's errorPages, as content.ts gives them for each route. */
  errorPages(value: unknown): void;
}

/** content.ts names upstreams by URL (`files.fallback`, `auth.forward.upstream`): the import's upstream names instead. */
function upstreamNames(route: RouteOut, env: SiteEnv): void {
  const rename = (holder: Record<string, unknown> | undefined, key: string): void => {
    const url = holder?.[key];
    if (holder === undefined || typeof url !== 'string' || !url.includes('://')) return;
    const t = env.ctx.upstreams.resolve(url, env.label);
    if (typeof t !== 'string') holder[key] = t.upstream;
  };
  rename(route.files as Record<string, unknown> | undefined, 'fallback');
  rename((route.auth as Record<string, Record<string, unknown>> | undefined)?.forward, 'upstream');
}

interface Matcher {
  readonly keys: RouteOut;
  readonly prefix?: string;
  readonly regex?: string;
  readonly captures: Captures;
}

/** A `location` (and those nested in it) → routes, in file order (Gatehouse keeps nginx's precedence: README "Routes, headers, redirects: coming from nginx"). */
export function locationRoutes(written: Scope, env: SiteEnv, out: RouteOut[], parentRegex?: Directive): void {
  const { ctx } = env;
  const d = written.directive as Directive;
  ctx.consumed.add(d);
  const m = matcher(d, ctx);
  if (m === undefined) return;
  const loc = withNamedContent(written, ctx);
  const raw = rawPrefixStrip(loc, m.prefix);
  for (const x of raw?.rewrites ?? []) ctx.consumed.add(x);
  if (parentRegex !== undefined) ctx.report.difference(d, `nested in ${parentRegex.args.join(' ')}: Gatehouse routes are flat, this one is tried on every path`);
  if (m.regex !== undefined && d.block?.some((c) => c.name === 'location') === true) {
    for (const c of d.block) if (c.name === 'location') ctx.unsupported(c, 'a location nested in a regex location');
  }
  const route: RouteOut = { ...m.keys };
  const before: RouteOut[] = [];
  const extra: HeaderOpsOut[] = [];
  let action: Action | undefined;
  let rewrite: string | undefined;
  const literals = new Map(ctx.literals);
  const local: Ctx = { ...ctx, literals };
  const defaultType = nearestOne(loc, 'default_type')?.args[0];
  for (const x of nearest(loc, 'default_type')) ctx.consumed.add(x);
  for (const x of loc.directives) {
    if (ctx.consumed.has(x)) continue;
    switch (x.name) {
      case 'return':
        if (action === undefined && rewrite === undefined) action = returnAction(x, local, m.captures, defaultType);
        else ctx.consumed.add(x);
        break;
      case 'rewrite': {
        const r = locationRewrite(x, m, local);
        if (r === undefined) break;
        if ('redirect' in r) { if (action === undefined) action = r; } else rewrite = String(r.rewrite);
        break;
      }
      case 'set': {
        const [name = '', value = ''] = x.args;
        if (!value.includes('$')) { literals.set(name.replace(/^\$/, ''), value); ctx.consumed.add(x); }
        break;
      }
      case 'break': ctx.consumed.add(x); break;
      case 'if': ifIdiom(x, m, local, before, route); break;
      case 'internal': route.internal = true; ctx.consumed.add(x); break;
      case 'limit_except': limitExcept(x, route, ctx); break;
      case 'expires': extra.push(...expires(x, ctx)); break;
      case 'access_log': if (x.args[0] !== 'off') meaningless(x, ctx); break; // off: accessLog (content.ts)
      default: meaningless(x, ctx);
    }
  }
  const redirects = nearest(loc, 'proxy_redirect');
  for (const x of redirects) {
    ctx.consumed.add(x);
    if (x.args[0] === 'off') route.rewriteLocation = false;
    else if (x.args[0] !== 'default') ctx.report.difference(x, 'Gatehouse rewrites Location on the target\'s own origin only (proxy_redirect default)');
  }
  const pass = loc.directives.find((x) => x.name === 'proxy_pass');
  if (pass !== undefined && action === undefined) action = proxyAction(pass, loc, m, rewrite, { ...env, ctx: local }, raw);
  else if (pass !== undefined) ctx.consumed.add(pass);
  const content = ctx.content.route(loc, ctx.report);
  for (const c of content.consumed) ctx.consumed.add(c);
  const contentRoute = { ...content.route };
  if (contentRoute.errorPages !== undefined) env.errorPages(contentRoute.errorPages);
  delete contentRoute.errorPages;
  upstreamNames(contentRoute, env);
  if (contentRoute.files !== undefined && action !== undefined && 'upstream' in action) {
    const files = contentRoute.files as Record<string, unknown>;
    if (files.fallback === undefined) files.fallback = action.upstream as string;
    action = undefined;
  }
  if (action === undefined && contentRoute.files === undefined) action = accessOnlyAction(loc, contentRoute.access, ctx);
  if (action === undefined && contentRoute.files === undefined) {
    // One line for the location (its own, if it was not already said why); what it held goes with it.
    const other = loc.directives.find((x) => OTHER_PROTOCOLS.has(x.name));
    if (other !== undefined) ctx.report.unsupported(other, `${other.name}: Gatehouse speaks HTTP/1.1 to upstreams only (run the app behind an HTTP server)`);
    if (other !== undefined) ctx.report.unsupported(d, 'not translated: its upstream is not HTTP');
    else if (!ctx.report.mentions(d) && !written.directives.some((x) => ctx.report.mentions(x) && x.name !== 'add_header')) ctx.report.unsupported(d, 'no proxy_pass, return or files here (nginx would serve files from its root)');
    else ctx.report.unsupported(d, 'not translated: see the lines below');
    for (const x of walk(loc.directives)) if (x.name !== 'location' && !ctx.report.mentions(x)) ctx.consumed.add(x);
    return;
  }
  Object.assign(route, action ?? {}, mergeAccess(route, contentRoute));
  routeLimits(loc, route, ctx);
  const headers = routeHeaders(loc, env, m.captures, extra, content.consumed);
  if (headers !== undefined) route.headers = headers;
  out.push(...before, route);
  for (const c of loc.directives) {
    if (c.name === 'location' && !ctx.consumed.has(c)) locationRoutes(childScope(loc, c), env, out, m.regex !== undefined ? d : parentRegex);
  }
}

function mergeAccess(route: RouteOut, content: RouteOut): RouteOut {
  if (route.access === undefined || content.access === undefined) return content;
  return { ...content, access: { ...(content.access as object), ...(route.access as object) } };
}

function matcher(d: Directive, ctx: Ctx): Matcher | undefined {
  let [mod = '', value] = d.args;
  if (value === undefined) {
    const attached = /^(=|\^~|~\*|~)(.+)$/.exec(mod);
    if (attached !== null) { mod = attached[1] ?? ''; value = attached[2]; } else { value = mod; mod = ''; }
  }
  if (value === undefined) return undefined;
  if (mod === '' && value.startsWith('@')) return undefined;
  if (mod === '=') return { keys: { exact: value }, captures: NO_CAPTURES };
  if (mod === '^~') return { keys: { path: value, overridesRegex: true }, prefix: value, captures: NO_CAPTURES };
  if (mod === '~' || mod === '~*') {
    const js = jsRegex(value);
    if (!js.ok) { ctx.unsupported(d, js.why); return undefined; }
    return { keys: { regex: js.text, ...(mod === '~*' ? { caseInsensitive: true } : {}) }, regex: value, captures: capturesOf(value) };
  }
  if (mod !== '') { ctx.unsupported(d, `unknown location modifier ${mod}`); return undefined; }
  return { keys: { path: value }, prefix: value, captures: NO_CAPTURES };
}

/** `rewrite` inside a location: only when its regex is the location's own (or takes the prefix's rest). */
function locationRewrite(d: Directive, m: Matcher, ctx: Ctx): Action | { rewrite: string } | undefined {
  ctx.consumed.add(d);
  const [re = '', replacement = '', flag] = d.args;
  const placeholders = new Map<string, string>();
  let captures = NO_CAPTURES;
  if (m.regex !== undefined && re === m.regex) captures = m.captures;
  else if (m.prefix !== undefined && restOfPrefix(re, m.prefix) !== undefined) placeholders.set('1', restOfPrefix(re, m.prefix) ?? '');
  else if (re === '^(.*)$' || re === '^(.*)' || re === '(.*)') placeholders.set('1', '{path}');
  else if (re !== '^' && re !== '.*' && re !== '^.*$' && re !== '^/.*$') {
    ctx.unsupported(d, 'a rewrite whose regex is not the location\'s own: write it as a regex route');
    return undefined;
  }
  const dropsArgs = replacement.endsWith('?');
  const t = toTemplate(dropsArgs ? replacement.slice(0, -1) : replacement, captures, ctx.literals, placeholders);
  if (!t.ok) { ctx.unsupported(d, t.why); return undefined; }
  const external = /^(https?:\/\/|\$scheme)/.test(replacement);
  if (flag === 'permanent' || flag === 'redirect' || external) {
    if (!dropsArgs) ctx.report.difference(d, 'the client\'s query is not appended to the redirect (nginx adds ?$args)');
    return { redirect: { to: t.text, status: flag === 'permanent' ? 301 : 302 } };
  }
  if (flag !== 'break') {
    ctx.report.unsupported(d, 'rewrite … last (or no flag) restarts location matching; Gatehouse routes a request once');
    return undefined;
  }
  if (dropsArgs) ctx.report.difference(d, 'the client\'s query is still sent upstream (nginx drops it after "?")');
  return { rewrite: t.text };
}

/**
 * `^/grafana/(.*)` in `location /grafana/api/`: what `$1` is as a placeholder (`api/{rest}`), when
 * the regex is a literal part of the location's prefix followed by `(.*)` or `(/.*)`.
 */
function restOfPrefix(re: string, prefix: string): string | undefined {
  const m = /^\^((?:[^()\\[\]*+?.|^$]|\\[/.-])*)\((\/?)\.\*\)\$?$/.exec(re);
  if (m === null) return undefined;
  const literal = (m[1] ?? '').replace(/\\(.)/g, '$1') + (m[2] ?? '');
  if (!prefix.startsWith(literal)) return undefined;
  return `${m[2] ?? ''}${prefix.slice(literal.length).replace(/[{}]/g, '$&$&')}{rest}`;
}

/** `proxy_pass` → `upstream` with nginx's prefix-strip rule: a URI part replaces the matched prefix. */
function proxyAction(pass: Directive, loc: Scope, m: Matcher, rewrite: string | undefined, env: SiteEnv, raw: RawStrip | undefined): Action | undefined {
  const { ctx } = env;
  ctx.consumed.add(pass);
  // `proxy_pass http://app$request_uri` sends the URI as received: what Gatehouse does with no URI part.
  const url = raw?.url ?? resolveSet(pass.args[0] ?? '', ctx.literals).replace(/^(https?:\/\/[^/$]+)\$request_uri$/, '$1');
  const t = ctx.upstreams.resolve(url, env.label);
  if (typeof t === 'string') { ctx.unsupported(pass, t); return undefined; }
  if (raw === undefined && url !== pass.args[0] && !(pass.args[0] ?? '').endsWith('$request_uri')) ctx.report.difference(pass, `the target is fixed at load (${url}); nginx resolves it per request`);
  const action: Action = { upstream: t.upstream };
  if (raw !== undefined) {
    action.stripPrefix = true;
    // RFC 3986 §6.2.2: the same resource, but not byte for byte what nginx sends.
    ctx.report.difference(pass, 'stripPrefix: the rest of the path as Gatehouse matched it (dot segments removed, %XX of unreserved characters decoded; %2F and the query kept); nginx sends the raw request-target\'s rest');
  } else if (rewrite !== undefined) action.rewrite = rewrite;
  else if (t.uri !== undefined) {
    const uri = t.uri.replace(/[{}]/g, '$&$&');
    if (m.keys.exact !== undefined) action.rewrite = uri;
    else if (m.prefix !== undefined) {
      if (t.uri === '/' && m.prefix.endsWith('/')) action.stripPrefix = true;
      else action.rewrite = `${uri}{rest}`;
    } else ctx.report.difference(pass, 'a URI part in a regex location: the path goes upstream unchanged');
  }
  if (!nearest(loc, 'proxy_set_header').some((h) => (h.args[0] ?? '').toLowerCase() === 'host')) {
    ctx.report.difference(pass, `Gatehouse sends the client's Host upstream (nginx without proxy_set_header Host sends "${/^\w+:\/\/([^/]*)/.exec(url)?.[1] ?? ''}")`);
  }
  if (t.https && nearestOne(loc, 'proxy_ssl_verify')?.args[0] !== 'on') {
    ctx.report.difference(pass, 'Gatehouse checks the upstream\'s certificate (nginx: proxy_ssl_verify off); set upstreams.NAME.tls.ca for a private CA');
  }
  for (const name of ['proxy_ssl_verify', 'proxy_ssl_server_name']) for (const x of nearest(loc, name)) ctx.consumed.add(x);
  return action;
}

/** `proxy_pass http://$backend` where `set $backend app:3000;` is a literal: resolved once. */
function resolveSet(url: string, literals: ReadonlyMap<string, string>): string {
  return url.replace(/\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?/g, (all, name: string) => literals.get(name) ?? all);
}

/** The known `if` idioms of a location; anything else is reported. */
function ifIdiom(d: Directive, m: Matcher, ctx: Ctx, before: RouteOut[], route: RouteOut): void {
  ctx.consumed.add(d);
  const c = condition(d);
  const body = d.block ?? [];
  const ret = body.find((x) => x.name === 'return');
  // CORS preflight: `if ($request_method = OPTIONS) { add_header …; return 204; }`.
  if (c?.variable === '$request_method' && c.op === '=' && ret !== undefined && body.every((x) => x.name === 'return' || x.name === 'add_header')) {
    const action = returnAction(ret, ctx, m.captures);
    if (action === undefined) return;
    const route: RouteOut = { ...m.keys, methods: [c.value.toUpperCase()], ...action };
    const blocks = responseHeaders(body.filter((x) => x.name === 'add_header'), [], ctx, m.captures);
    const response = responseValue(blocks);
    if (response !== undefined) route.headers = { response };
    before.push(route);
    return;
  }
  // `if ($request_method !~ ^(GET|HEAD|POST)$) { return 405; }`: the route takes those methods only.
  const methods = c?.variable === '$request_method' && (c.op === '!~' || c.op === '!~*') ? /^\^?\(?([A-Z|]+)\)?\$?$/.exec(c.value) : null;
  if (methods !== null && ret !== undefined && body.length === 1) {
    for (const x of body) ctx.consumed.add(x);
    route.access = { methods: (methods[1] ?? '').split('|') };
    if (ret.args[0] !== '405') ctx.report.difference(ret, 'other methods get 405 with Allow');
    return;
  }
  ctx.report.unsupported(d, 'an if that is not one of the known idioms (CORS preflight, method list)');
  for (const x of body) ctx.consumed.add(x);
}

/** `limit_except GET POST { deny all; }` → `access.methods` (README "Access control"). */
function limitExcept(d: Directive, route: RouteOut, ctx: Ctx): void {
  ctx.consumed.add(d);
  const body = d.block ?? [];
  if (body.length !== 1 || body[0]?.name !== 'deny' || body[0].args[0] !== 'all') {
    ctx.unsupported(d, 'limit_except with rules other than "deny all"');
    return;
  }
  ctx.consumed.add(body[0]);
  route.access = { methods: d.args.map((a) => a.toUpperCase()) };
  ctx.report.difference(d, 'other methods get 405 with Allow (nginx: 403)');
}

/** Request and response rules the location itself (or a parent location) sets; the server's are the site's. */
function routeHeaders(loc: Scope, env: SiteEnv, captures: Captures, extra: readonly HeaderOpsOut[], byContent: ReadonlySet<Directive>): RouteOut | undefined {
  const { ctx } = env;
  const out: RouteOut = {};
  const inLocation = (name: string): boolean => levelOf(loc, name)?.kind === 'location';
  if (inLocation('proxy_set_header')) {
    // content.ts carries some over itself (auth_request_set + proxy_set_header → auth.forward.copyHeaders).
    const request = requestHeaders(nearest(loc, 'proxy_set_header').filter((d) => !byContent.has(d)), ctx, captures);
    if (request !== undefined) out.request = request;
  }
  // content.ts answers for `add_header X-Cache-Status $upstream_cache_status` (Cache-Status does its job).
  const adds = inLocation('add_header') ? nearest(loc, 'add_header').filter((d) => !byContent.has(d)) : [];
  const hides = inLocation('proxy_hide_header') ? nearest(loc, 'proxy_hide_header') : [];
  const response = responseValue([...responseHeaders(adds, hides, ctx, captures), ...extra]);
  if (response !== undefined) out.response = response;
  const first = adds[0];
  if (first !== undefined) {
    const own = new Set(headerNames(adds).map((n) => n.toLowerCase()));
    const kept = env.siteResponseNames.filter((n) => !own.has(n.toLowerCase()));
    if (kept.length > 0) ctx.report.difference(first, `the server's add_header ${kept.join(', ')} still apply here (nginx drops inherited add_header in a location with its own)`);
  }
  return Object.keys(out).length === 0 ? undefined : out;
}
