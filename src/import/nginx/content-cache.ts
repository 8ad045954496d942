import type { Directive } from './parse.js';
import { nearest, nearestOne, type Scope } from './scope.js';
import { allScopes, duration, flag, own, rootOf, size, template, type Ctx, type Reporter } from './content-util.js';

// The words of proxy_cache_use_stale that Gatehouse's useStale takes as they are.
const STALE_WORDS = new Set(['error', 'timeout', 'updating', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429']);
// Request traits Gatehouse already keeps out of the cache (README "Caching"), so bypassing on them says little.
const SAFE_BYPASS = /^\$(http_upgrade|http_authorization|http_cookie|cookie_\w+)$/;

/** proxy_cache and its settings in force at a proxying location → the route's `cache` (README "Caching"). */
export function translateCache(ctx: Ctx, route: Record<string, unknown>): void {
  const { scope, report, consumed } = ctx;
  const zone = nearestOne(scope, 'proxy_cache');
  if (zone === undefined || own(scope, 'proxy_pass').length === 0) return;
  consumed.add(zone);
  if (zone.args[0] === 'off') return;
  if (!/^\w[\w-]*$/.test(zone.args[0] ?? '')) {
    report.unsupported(zone, 'a zone chosen by a variable: Gatehouse has one store');
    return;
  }
  const cache: Record<string, unknown> = {};
  const valid: Record<string, string> = {};
  for (const d of nearest(scope, 'proxy_cache_valid')) {
    consumed.add(d);
    const time = duration(d.args.at(-1) ?? '');
    const codes = d.args.length === 1 ? ['200', '301', '302'] : d.args.slice(0, -1);
    if (time === undefined) report.unsupported(d, 'not a time');
    else for (const code of codes) valid[code] = time;
  }
  if (Object.keys(valid).length > 0) cache.valid = valid;

  const stale = nearestOne(scope, 'proxy_cache_use_stale');
  if (stale !== undefined) {
    consumed.add(stale);
    const words = stale.args.filter((w) => STALE_WORDS.has(w));
    const other = stale.args.filter((w) => !STALE_WORDS.has(w) && w !== 'off');
    if (other.length > 0) report.difference(stale, `Gatehouse has no stale answer for ${other.join(', ')}`);
    if (words.length > 0) cache.useStale = words;
  }
  const background = nearestOne(scope, 'proxy_cache_background_update');
  if (background !== undefined) {
    consumed.add(background);
    if (flag(background) === true && !(stale?.args.includes('updating') ?? false)) {
      report.difference(background, 'Gatehouse refreshes in the background only with useStale: [updating]');
    }
  }
  const lock = nearestOne(scope, 'proxy_cache_lock');
  if (lock !== undefined) {
    consumed.add(lock);
    if (flag(lock) === true) cache.lock = true;
  }
  const lockTimeout = nearestOne(scope, 'proxy_cache_lock_timeout');
  if (lockTimeout !== undefined) {
    consumed.add(lockTimeout);
    const t = duration(lockTimeout.args[0] ?? '');
    if (t === undefined) report.unsupported(lockTimeout, 'not a time');
    else cache.lockTimeout = t;
  }
  const key = translateKey(ctx);
  if (key !== undefined) cache.key = key;
  translateCacheRest(ctx);
  route.cache = cache;
}

/** proxy_cache_key → cache.key with placeholders; $request_method adds nothing (only GET/HEAD are cached). */
function translateKey(ctx: Ctx): string | undefined {
  const d = nearestOne(ctx.scope, 'proxy_cache_key');
  if (d === undefined) return undefined;
  ctx.consumed.add(d);
  const text = (d.args[0] ?? '')
    .replace(/\$(\{request_method\}|request_method\b)/g, '')
    .replace(/\$(\{is_args\}|is_args\b)/g, '?');
  if (/\$(\{proxy_host\}|proxy_host\b)/.test(text)) {
    ctx.report.difference(d, '$proxy_host (the upstream) becomes {host} (the client\'s Host): one entry per site, where nginx shares it between server blocks');
  }
  const t = template(text.replace(/\$(\{proxy_host\}|proxy_host\b)/g, '$host'));
  if (t.unknown.length > 0) {
    ctx.report.unsupported(d, `${t.unknown.join(', ')} has no placeholder: the default key {scheme}{host}{uri} (plus Vary) is used`);
    return undefined;
  }
  return t.text;
}

/** The cache settings that have no key: said once each, with why. */
function translateCacheRest(ctx: Ctx): void {
  const { scope, report, consumed } = ctx;
  for (const name of ['proxy_cache_bypass', 'proxy_no_cache']) {
    for (const d of nearest(scope, name)) {
      consumed.add(d);
      if (d.args.every((a) => SAFE_BYPASS.test(a))) {
        if (d.args.some((a) => a !== '$http_upgrade')) {
          report.difference(d, 'Gatehouse keeps answers to requests with cookies or Authorization out of the cache by itself, unless the upstream marks them public');
        }
        continue;
      }
      report.unsupported(d, `Gatehouse has no ${name === 'proxy_no_cache' ? 'no-store' : 'bypass'} condition: it follows the request's and the answer's Cache-Control`);
    }
  }
  const methods = nearestOne(scope, 'proxy_cache_methods');
  if (methods !== undefined) {
    consumed.add(methods);
    if (methods.args.some((m) => m !== 'GET' && m !== 'HEAD')) report.unsupported(methods, 'Gatehouse caches GET and HEAD only');
  }
  const minUses = nearestOne(scope, 'proxy_cache_min_uses');
  if (minUses !== undefined) {
    consumed.add(minUses);
    if (minUses.args[0] !== '1') report.difference(minUses, 'Gatehouse stores an answer the first time');
  }
  for (const name of ['proxy_cache_revalidate', 'proxy_cache_convert_head', 'proxy_cache_lock_age', 'proxy_ignore_headers', 'proxy_cache_max_range_offset']) {
    const d = nearestOne(scope, name);
    if (d === undefined) continue;
    consumed.add(d);
    if (name === 'proxy_cache_revalidate') continue; // Gatehouse revalidates with ETag/Last-Modified either way.
    if (name === 'proxy_cache_convert_head' && flag(d) !== false) continue;
    if (name === 'proxy_cache_lock_age') report.difference(d, 'a locked request waits up to cache.lockTimeout, then goes upstream itself');
    else if (name === 'proxy_ignore_headers') report.unsupported(d, 'Gatehouse always honours the upstream\'s Cache-Control, Expires, Vary and Set-Cookie (RFC 9111)');
    else report.unsupported(d, 'no such setting in Gatehouse');
  }
  for (const d of nearest(scope, 'add_header')) {
    if ((d.args[1] ?? '') !== '$upstream_cache_status') continue;
    consumed.add(d);
    report.difference(d, `Gatehouse says what the cache did in Cache-Status (RFC 9211), not in ${d.args[0] ?? ''}`);
  }
}

/** proxy_cache_path → the top-level `cache` store (one for every zone). */
export function translateCacheStore(http: Scope, report: Reporter, consumed: Set<Directive>): Record<string, unknown> | undefined {
  const paths = allScopes(rootOf(http)).flatMap((s) => own(s, 'proxy_cache_path'));
  const [first, ...more] = paths;
  if (first === undefined) return undefined;
  const param = (key: string): string | undefined => first.args.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1);
  const store: Record<string, unknown> = {};
  consumed.add(first);
  // keys_zone sizes nginx's shared memory for keys; the nearest Gatehouse figure is the memory tier.
  const memory = size(param('keys_zone')?.split(':')[1] ?? '');
  if (memory !== undefined) store.memory = memory;
  store.path = first.args[0] ?? '';
  const max = param('max_size');
  if (max !== undefined && size(max) !== undefined) store.maxSize = size(max);
  else report.difference(first, 'nginx lets the disk cache grow without bound; Gatehouse holds it to cache.maxSize (default 1g)');
  const inactive = param('inactive');
  if (inactive !== undefined) report.difference(first, `nginx drops entries unused for ${inactive} even when fresh; Gatehouse keeps them until they expire or space runs out`);
  for (const d of more) {
    consumed.add(d);
    report.difference(d, `Gatehouse has one store: zone ${d.args.find((a) => a.startsWith('keys_zone='))?.slice(9).split(':')[0] ?? ''} shares ${store.path as string}`);
  }
  return store;
}
