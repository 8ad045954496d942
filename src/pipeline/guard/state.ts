import cluster from 'node:cluster';
import { Counter } from 'prom-client';
import type { Metrics } from '../../admin/metrics.js';
import { rateLimited, type Logger } from '../../log.js';
import type { UpstreamClient } from '../../upstream/client.js';
import { GcraTable } from './gcra.js';
import { HtpasswdFile } from './htpasswd.js';
import { ClusterStore, LocalStore, type RateStore } from './rate-store.js';
import { RedisStore } from './redis-store.js';

export type RateOutcome = 'allowed' | 'limited' | 'dry_run' | 'store_error';

/**
 * What the guard keeps for the life of an edge, across reloads (as Caddy keys its counters by
 * address so they survive one): budgets, auth-failure counts, htpasswd files and their caches,
 * store connections. Built lazily: an edge whose routes use none of it holds nothing.
 */
export class GuardState {
  readonly log: Logger;
  readonly client: UpstreamClient;
  /** Failed Basic logins per client address (auth-basic.ts). */
  readonly failures = new GcraTable();
  readonly #outcomes: Counter<'limit' | 'outcome'>;
  readonly #children = new Map<string, { inc(): void }>();
  readonly #storeTrouble: (fields: object, message: string) => void;
  #store: RateStore | undefined;
  readonly #redis = new Map<string, RedisStore>();
  readonly #files = new Map<string, HtpasswdFile>();

  constructor(log: Logger, metrics: Metrics, client: UpstreamClient) {
    this.log = log;
    this.client = client;
    this.#outcomes = new Counter({
      name: 'gatehouse_ratelimit_total', help: 'Rate-limit decisions by limit and outcome (allowed, limited, dry_run, store_error: served without a decision)',
      labelNames: ['limit', 'outcome'] as const, registers: [metrics.registry],
    });
    this.#storeTrouble = rateLimited(log, 5000);
  }

  /** The budget store: Redis when `rateLimits.store` names one, else the primary's table (workers) or this process's. */
  store(url: string | null): RateStore {
    if (url !== null) {
      let redis = this.#redis.get(url);
      if (redis === undefined) {
        redis = new RedisStore(url, (err) => this.storeFailed(url, err));
        this.#redis.set(url, redis);
      }
      return redis;
    }
    this.#store ??= cluster.isWorker && process.send !== undefined ? new ClusterStore(process) : new LocalStore();
    return this.#store;
  }

  htpasswd(path: string): HtpasswdFile {
    let file = this.#files.get(path);
    if (file === undefined) {
      file = new HtpasswdFile(path, this.log);
      this.#files.set(path, file);
    }
    return file;
  }

  outcome(limit: string, outcome: RateOutcome): void {
    const key = `${outcome} ${limit}`;
    let child = this.#children.get(key);
    if (child === undefined) {
      child = this.#outcomes.labels(limit, outcome);
      this.#children.set(key, child);
    }
    child.inc();
  }

  /** A store that cannot decide: logged (at most every 5 s), and the request is served. */
  storeFailed(store: string, err: Error): void {
    this.#storeTrouble({ event: 'ratelimit-store', store, err: err.message, code: 'EDGE_ERR_RATELIMIT_STORE' }, 'rate-limit store unreachable: serving without limits (fail open)');
  }

  close(): void {
    this.#store?.close();
    for (const redis of this.#redis.values()) redis.close();
    this.#redis.clear();
  }
}
