import { resolve } from 'node:path';
import { parseTemplate, type Template } from './template.js';
import { boolean, duration, list, map, object, oneOf, size, string } from './shape.js';
import type { Path, Reader } from './values.js';

/** Top-level `cache:` (README "Caching"): where entries live. One store per edge, kept across reloads. */
export interface CacheStoreConfig {
  /** Bytes of entries kept in process (LRU by size). */
  readonly memory: number;
  /** Absolute directory of the on-disk tier; null: memory only. */
  readonly path: string | null;
  /** Bytes the disk tier may hold before the least recently written entries go. */
  readonly maxSize: number;
}

/** Upstream failures under which a stale entry may answer (nginx proxy_cache_use_stale). */
export interface UseStale {
  readonly error: boolean;
  readonly timeout: boolean;
  /** Upstream statuses answered with the stale entry instead (http_500 → 500). */
  readonly statuses: readonly number[];
  /** Serve the stale entry while another request refreshes it. */
  readonly updating: boolean;
}

/** `routes[].cache`: how one upstream route uses the store. */
export interface RouteCacheConfig {
  /** ms of freshness per status when the upstream gives none (nginx proxy_cache_valid); 0 is `any`. */
  readonly valid: ReadonlyMap<number, number>;
  readonly useStale: UseStale;
  /** One request per key goes upstream; the others wait up to `lockTimeout` (nginx proxy_cache_lock). */
  readonly lock: boolean;
  readonly lockTimeout: number;
  readonly key: Template;
  /** The key as written, for `check`. */
  readonly keyText: string;
}

/** The cache's defaults; schema.ts's DEFAULTS carries them, so README's table is checked against them. */
export const CACHE_DEFAULTS = {
  memory: '64m',
  maxSize: '1g',
  route: { useStale: [], lock: false, lockTimeout: '5s', key: '{scheme}{host}{uri}' },
} as const;

const USE_STALE = ['error', 'timeout', 'updating', 'http_500', 'http_502', 'http_503', 'http_504', 'http_403', 'http_404', 'http_429'] as const;
const MAX_BYTES = 2 ** 40;

/** `cache:` (the store), for the JSON Schema; readCacheStore reads it. */
export const CACHE_STORE = object({
  memory: size(1024, MAX_BYTES, CACHE_DEFAULTS.memory),
  path: string(),
  maxSize: size(1024 * 1024, MAX_BYTES, CACHE_DEFAULTS.maxSize),
});
/** `routes[].cache` (or `cache: true`), for the JSON Schema; readRouteCache reads it. */
export const ROUTE_CACHE = object({
  valid: map(duration()),
  useStale: list(oneOf(USE_STALE), { default: CACHE_DEFAULTS.route.useStale }),
  lock: boolean(CACHE_DEFAULTS.route.lock),
  lockTimeout: duration(CACHE_DEFAULTS.route.lockTimeout, 1),
  key: string(CACHE_DEFAULTS.route.key),
}, { orBoolean: 'true' });

/** `cache:` at the top; null when absent (no route may then name `cache`). */
export function readCacheStore(r: Reader, raw: unknown, dir: string): CacheStoreConfig | null {
  if (raw === undefined || raw === null) return null;
  const o = r.object(raw, ['cache'], ['memory', 'path', 'maxSize']) ?? {};
  const d = CACHE_DEFAULTS;
  const memory = r.size(o.memory ?? d.memory, ['cache', 'memory'], 1024, MAX_BYTES) ?? 0;
  const path = o.path === undefined ? null : r.string(o.path, ['cache', 'path']);
  const maxSize = r.size(o.maxSize ?? d.maxSize, ['cache', 'maxSize'], 1024 * 1024, MAX_BYTES) ?? 0;
  if (o.maxSize !== undefined && o.path === undefined) r.error(['cache', 'maxSize'], 'maxSize bounds the disk tier: set cache.path too', 'key');
  return { memory, path: path === undefined || path === null ? null : resolve(dir, path), maxSize };
}

/** A route's `cache` (its mapping `ro` at `rp`); null when the route has none. */
export function readRouteCache(r: Reader, ro: Record<string, unknown>, rp: Path, store: CacheStoreConfig | null): RouteCacheConfig | null {
  if (ro.cache === undefined) return null;
  const path = [...rp, 'cache'];
  if (store === null) r.error(path, 'a route cache needs the store: add a top-level "cache: { memory: 64m }"', 'key');
  if (ro.upstream === undefined) r.error(path, 'cache is for routes whose action is "upstream"', 'key');
  const o = r.object(ro.cache === true ? {} : ro.cache, path, ['valid', 'useStale', 'lock', 'lockTimeout', 'key']) ?? {};
  const d = CACHE_DEFAULTS.route;
  const valid = new Map<number, number>();
  const v = o.valid ?? {};
  if (typeof v !== 'object' || v === null || Array.isArray(v)) r.error([...path, 'valid'], 'expected a mapping of status → lifetime, e.g. { 200: 10m, 404: 1m, any: 1m }');
  else {
    for (const [status, value] of Object.entries(v as Record<string, unknown>)) {
      const sp = [...path, 'valid', /^\d+$/.test(status) ? Number(status) : status];
      const code = status === 'any' ? 0 : /^[1-5]\d\d$/.test(status) ? Number(status) : r.error(sp, 'expected a status such as 200 or 404, or "any"', 'key');
      const ms = r.duration(value, sp);
      if (code !== undefined && ms !== undefined) valid.set(code, ms);
    }
  }
  const stale = { error: false, timeout: false, updating: false, statuses: [] as number[] };
  (r.list(o.useStale ?? d.useStale, [...path, 'useStale']) ?? []).forEach((item, i) => {
    const word = r.oneOf(item, [...path, 'useStale', i], USE_STALE);
    if (word === undefined) return;
    if (word.startsWith('http_')) stale.statuses.push(Number(word.slice(5)));
    else stale[word as 'error' | 'timeout' | 'updating'] = true;
  });
  const keyText = r.string(o.key ?? d.key, [...path, 'key']) ?? d.key;
  const parsed = parseTemplate(keyText);
  if (typeof parsed === 'string') r.error([...path, 'key'], parsed);
  return {
    valid,
    useStale: stale,
    lock: r.boolean(o.lock ?? d.lock, [...path, 'lock']) ?? d.lock,
    lockTimeout: r.timer(o.lockTimeout ?? d.lockTimeout, [...path, 'lockTimeout'], 1) ?? 5000,
    key: typeof parsed === 'string' ? [] : parsed,
    keyText,
  };
}

/** `check`'s line about the store: what is kept where, and how many routes use it. */
export function describeCache(store: CacheStoreConfig | null, routes: number, workers: number): string {
  if (store === null) return 'cache: off';
  const mib = (n: number): string => `${Math.round((n / 1_048_576) * 10) / 10} MiB`;
  const disk = store.path === null ? 'no disk tier' : `disk tier ${store.path} up to ${mib(store.maxSize)}${workers > 1 ? ` (shared by the ${workers} workers)` : ''}`;
  return `cache: memory ${mib(store.memory)}${workers > 1 ? ' per worker' : ''}, ${disk}; ${routes} route${routes === 1 ? '' : 's'} cache${routes === 1 ? 's' : ''}`;
}
