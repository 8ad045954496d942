import type { CacheStoreConfig, RouteCacheConfig } from '../config/cache.js';
import type { Logger } from '../log.js';
import type { ClientRequest, ClientResponse } from '../http/message.js';
import type { Exchange, Forwarder } from '../proxy/forward.js';
import type { UpstreamClient } from '../upstream/client.js';
import { answerTo, conditionsOf, type Conditions } from './conditional.js';
import { DiskStore } from './disk.js';
import { answerOf, ttlOf, type Entry } from './entry.js';
import { unkeyedHeader } from './key.js';
import { MemoryStore } from './memory.js';
import { refreshInBackground } from './revalidate.js';
import { FillTap, PassTap, type TapOwner } from './tap.js';

/** Counters read at scrape time (admin/metrics.ts). */
export interface CacheStats {
  hit: number;
  miss: number;
  stale: number;
  revalidated: number;
  bypass: number;
}

/** What `POST /cache/purge` names: one key (every variant) or every key under a prefix. */
export type PurgeTarget = { readonly key: string } | { readonly prefix: string };

/** One request of a cached route, as the cache sees it. */
interface Visit {
  readonly forwarder: Forwarder;
  readonly req: ClientRequest;
  readonly res: ClientResponse;
  readonly exchange: Exchange;
  readonly rc: RouteCacheConfig;
  readonly key: string;
}

/**
 * The response cache (README "Caching"): one per edge, owned by its lifecycle so entries outlive a
 * reload. Routes with `cache` hand it their exchange (the one hook, pipeline/request.ts); it
 * answers from the store, or sends the exchange upstream with a tap that decides what is kept.
 * Keys with a request on its way upstream are `#trips`: with `lock` the others wait for it
 * (bounded by lockTimeout), with `updating` (or the upstream's stale-while-revalidate) they get
 * the stale entry meanwhile.
 */
export class ResponseCache implements TapOwner {
  readonly #memory: MemoryStore;
  #disk: DiskStore | undefined;
  readonly #upstreams: UpstreamClient;
  readonly #log: Logger;
  /** key → callbacks of requests waiting for the trip upstream to end. */
  readonly #trips = new Map<string, (() => void)[]>();
  readonly stats: CacheStats = { hit: 0, miss: 0, stale: 0, revalidated: 0, bypass: 0 };
  #config: CacheStoreConfig;

  constructor(config: CacheStoreConfig, upstreams: UpstreamClient, log: Logger) {
    this.#config = config;
    this.#memory = new MemoryStore(config.memory);
    this.#disk = config.path === null ? undefined : new DiskStore(config.path, config.maxSize, log);
    this.#upstreams = upstreams;
    this.#log = log;
  }

  /** A reload's store settings: memory is resized in place (entries kept); a new disk path starts a new tier. */
  configure(config: CacheStoreConfig): void {
    this.#memory.resize(config.memory);
    if (config.path !== this.#config.path || config.maxSize !== this.#config.maxSize) {
      this.#disk = config.path === null ? undefined : new DiskStore(config.path, config.maxSize, this.#log);
    }
    this.#config = config;
  }

  get config(): CacheStoreConfig {
    return this.#config;
  }

  get entryLimit(): number {
    return Math.max(this.#memory.entryLimit, this.#disk?.entryLimit ?? 0);
  }

  /** Bytes and entries held in memory (metrics). */
  get memory(): { readonly bytes: number; readonly entries: number } {
    return { bytes: this.#memory.bytes, entries: this.#memory.count };
  }

  /** The request path's one call for routes with `cache`. */
  /** `key`: the route's `cache.key` expanded for this request (the pipeline owns the placeholders). */
  serve(forwarder: Forwarder, req: ClientRequest, res: ClientResponse, exchange: Exchange, rc: RouteCacheConfig, key: string): void {
    const method = exchange.method;
    if (method !== 'GET' && method !== 'HEAD') {
      exchange.tap = new PassTap(this, 'Gatehouse; fwd=method', key);
      forwarder.web(req, res, exchange);
      return;
    }
    const unkeyed = unkeyedHeader(exchange.headers);
    if (unkeyed !== undefined) {
      this.stats.bypass++;
      exchange.tap = new PassTap(this, `Gatehouse; fwd=bypass; detail=${unkeyed}`, undefined);
      forwarder.web(req, res, exchange);
      return;
    }
    // The identity body is what is stored; the route's `compress` encodes it per client on the way out.
    delete exchange.headers['accept-encoding'];
    const visit: Visit = { forwarder, req, res, exchange, rc, key };
    const entry = this.#memory.get(key, exchange.headers);
    const disk = this.#disk;
    if (entry !== undefined || disk === undefined) {
      this.#decide(visit, entry, false);
      return;
    }
    disk.get(key, exchange.headers).then((found) => {
      if (found !== undefined) this.#memory.put(found);
      this.#decide(visit, found, false);
    }, () => this.#decide(visit, undefined, false));
  }

  #decide(visit: Visit, found: Entry | undefined, waited: boolean): void {
    const { forwarder, req, res, exchange, rc, key } = visit;
    const now = Date.now();
    const entry = found === undefined || found.explicit || !credentialed(exchange) ? found : undefined;
    // The client's own validators, read before addValidators() puts the cache's in their place.
    const asked = conditionsOf(exchange.headers);
    if (entry !== undefined && now < entry.freshUntil) {
      this.stats.hit++;
      const status = `Gatehouse; hit; ttl=${ttlOf(entry, now)}`;
      // RFC 9111 §4.3.2: a fresh entry answers the client's conditional itself (nginx's not_modified filter).
      forwarder.replay(req, res, exchange, answerTo(asked, entry, now, status, exchange.compress));
      return;
    }
    const waiting = this.#trips.get(key);
    if (entry !== undefined && !entry.mustRevalidate) {
      // RFC 5861 §3: within stale-while-revalidate the stale answer goes out now and one request refreshes it.
      const swr = now < entry.freshUntil + entry.swr;
      if (waiting !== undefined && (rc.useStale.updating || swr)) return this.#stale(visit, entry, now, 'updating');
      if (waiting === undefined && swr) {
        this.#trips.set(key, []);
        refreshInBackground(this, this.#upstreams, exchange, { key, method: 'GET', url: exchange.path, headers: { ...exchange.headers }, rc, stale: entry, conditional: true, owner: true, asked: undefined, offer: undefined });
        return this.#stale(visit, entry, now, 'stale-while-revalidate');
      }
    }
    if (waiting !== undefined && rc.lock && !waited) {
      // proxy_cache_lock: wait for the request already upstream, then look again (once).
      const wake = (): void => {
        clearTimeout(timer);
        const i = waiting.indexOf(wake);
        if (i !== -1) waiting.splice(i, 1);
        this.#decide(visit, this.#memory.get(key, exchange.headers), true);
      };
      const timer = setTimeout(wake, rc.lockTimeout);
      waiting.push(wake);
      return;
    }
    const owner = waiting === undefined;
    if (owner) this.#trips.set(key, []);
    const conditional = upstreamValidators(exchange, entry, asked);
    exchange.tap = new FillTap(this, { key, method: exchange.method, url: exchange.path, headers: exchange.headers, rc, stale: entry, conditional, owner, asked, offer: exchange.compress });
    forwarder.web(req, res, exchange);
  }

  #stale(visit: Visit, entry: Entry, now: number, why: string): void {
    this.stats.stale++;
    visit.forwarder.replay(visit.req, visit.res, visit.exchange, answerOf(entry, now, `Gatehouse; hit; ttl=${ttlOf(entry, now)}; detail=${why}`));
  }

  store(entry: Entry): void {
    this.#memory.put(entry);
    this.#disk?.put(entry);
  }

  invalidate(key: string): void {
    this.#memory.delete(key);
    this.#disk?.delete(key);
  }

  release(key: string): void {
    const waiting = this.#trips.get(key);
    this.#trips.delete(key);
    if (waiting !== undefined) for (const wake of [...waiting]) wake();
  }

  count(result: 'miss' | 'stale' | 'revalidated'): void {
    this.stats[result]++;
  }

  /** `POST /cache/purge`: one key (every variant), or every key under a prefix; resolves with how many entries went. */
  async purge(what: PurgeTarget): Promise<number> {
    if ('key' in what) return this.#memory.delete(what.key) + (await this.#disk?.delete(what.key) ?? 0);
    return this.#memory.deletePrefix(what.prefix) + (await this.#disk?.deletePrefix(what.prefix) ?? 0);
  }

  /** The memory tier alone (a worker, when the primary purges the shared disk tier itself). */
  purgeMemory(what: PurgeTarget): number {
    return 'key' in what ? this.#memory.delete(what.key) : this.#memory.deletePrefix(what.prefix);
  }
}

/** A request that speaks for a user (RFC 9111 §3.5 names Authorization; a session cookie is the same thing). */
function credentialed(exchange: Exchange): boolean {
  return exchange.headers.cookie !== undefined || exchange.headers.authorization !== undefined;
}

/**
 * The validators that go upstream: the stored entry's (RFC 9111 §4.3.1), so a 304 refreshes it,
 * and never the client's own that the cache evaluates (`asked`; nginx's proxy_cache_headers):
 * the upstream's 304 to them could be neither stored nor refresh anything, so a miss fetches the
 * whole answer and FillTap.head answers the client's conditional from it. Returns whether ours went.
 */
function upstreamValidators(exchange: Exchange, entry: Entry | undefined, asked: Conditions | undefined): boolean {
  const headers = exchange.headers;
  const ours = entry !== undefined && (entry.etag !== undefined || entry.lastModified !== undefined);
  if (asked !== undefined || ours) {
    delete headers['if-none-match'];
    delete headers['if-modified-since'];
  }
  if (!ours) return false;
  if (entry.etag !== undefined) headers['if-none-match'] = entry.etag;
  if (entry.lastModified !== undefined) headers['if-modified-since'] = entry.lastModified;
  return true;
}
