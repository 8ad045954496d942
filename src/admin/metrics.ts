import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import { TalliedHistogram } from './tallied-histogram.js';
import type { AcmeHostMetric } from '../tls/acme/wiring.js';

/** What the response cache reports at scrape time (cache/cache.ts). */
export interface CacheFigures {
  readonly stats: Readonly<Record<'hit' | 'miss' | 'stale' | 'revalidated' | 'bypass', number>>;
  readonly memory: { readonly bytes: number; readonly entries: number };
}

/** A request's protocol, as the `protocol` label says it. */
type Protocol = 'http/1.1' | 'h2';

interface RequestTally {
  h1: number;
  h2: number;
}

export interface PoolStats {
  readonly target: string;
  readonly opened: number;
  readonly idle: number;
}

/** Prometheus metrics of one edge (a registry per edge: no module-level state across tests or reloads). */
export class Metrics {
  readonly registry = new Registry();
  readonly #requests: Counter<'route' | 'status' | 'protocol'> = new Counter({
    name: 'gatehouse_requests_total', help: 'HTTPS requests answered, by route, status and protocol (http/1.1 or h2)', labelNames: ['route', 'status', 'protocol'] as const,
    registers: [this.registry], collect: (): void => this.#collectRequests(),
  });
  readonly #upstreamLatency = new TalliedHistogram({
    name: 'gatehouse_upstream_response_seconds', help: 'Time from request start to upstream response headers', label: 'upstream',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registry: this.registry,
  });
  readonly connections = new Gauge({ name: 'gatehouse_open_connections', help: 'Open client connections (HTTPS)', registers: [this.registry] });
  readonly connectionsRefused = new Counter({ name: 'gatehouse_connections_refused_total', help: 'Client connections closed at accept by limits.connections (limit) or limits.connectionsPerIp (per_ip)', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly websockets = new Gauge({ name: 'gatehouse_open_websockets', help: 'Open WebSocket tunnels', registers: [this.registry] });
  readonly websocketRefusals = new Counter({ name: 'gatehouse_websocket_refused_total', help: 'Upgrades refused, by reason', labelNames: ['reason'] as const, registers: [this.registry] });
  readonly targetUp = new Gauge({ name: 'gatehouse_upstream_target_up', help: '1 when the target is considered healthy', labelNames: ['upstream', 'target'] as const, registers: [this.registry] });
  readonly certExpiry = new Gauge({ name: 'gatehouse_certificate_expiry_seconds', help: 'Seconds until the served certificate expires', labelNames: ['cert'] as const, registers: [this.registry] });
  readonly certReload = new Gauge({ name: 'gatehouse_certificate_last_reload_success', help: '1 if the last reload attempt of this certificate succeeded, 0 if it failed', labelNames: ['cert'] as const, registers: [this.registry] });
  #pools: () => Iterable<PoolStats> = () => [];
  readonly #upstreamOpened = new Counter({
    name: 'gatehouse_upstream_connections_opened_total', help: 'Upstream TCP connections opened, by target (flat while keep-alive reuse works)', labelNames: ['target'] as const, registers: [this.registry],
    collect: () => this.#collectPools(),
  });
  readonly #upstreamIdle = new Gauge({ name: 'gatehouse_upstream_connections_idle', help: 'Idle keep-alive connections pooled, by target', labelNames: ['target'] as const, registers: [this.registry] });
  #acme: () => Promise<readonly AcmeHostMetric[]> = async () => [];
  // Every worker and instance reads the same state.json: 'max', not the default sum, across workers.
  readonly #acmeSuccess: Gauge<'host'> = new Gauge({
    name: 'gatehouse_acme_last_success_timestamp_seconds', help: 'When the last ACME order for the host succeeded (unix seconds)', labelNames: ['host'] as const,
    aggregator: 'max', registers: [this.registry], collect: (): Promise<void> => this.#collectAcme((m) => m.lastSuccess, this.#acmeSuccess),
  });
  readonly #acmeFailures: Counter<'host'> = new Counter({
    name: 'gatehouse_acme_failures_total', help: 'Failed ACME orders for the host', labelNames: ['host'] as const,
    aggregator: 'max', registers: [this.registry], collect: (): Promise<void> => this.#collectAcme((m) => m.failuresTotal, this.#acmeFailures),
  });
  readonly #acmeNext: Gauge<'host'> = new Gauge({
    name: 'gatehouse_acme_next_renewal_timestamp_seconds', help: 'When the next ACME order for the host is due: its renewal time, or the next retry after a failure (unix seconds)', labelNames: ['host'] as const,
    aggregator: 'max', registers: [this.registry], collect: (): Promise<void> => this.#collectAcme((m) => m.nextRenewal, this.#acmeNext),
  });
  #cache: () => CacheFigures | undefined = () => undefined;
  readonly #cacheResults: Counter<'result'> = new Counter({
    name: 'gatehouse_cache_requests_total', help: 'Requests of cached routes by what the cache did: hit, miss, stale (a stale answer served), revalidated (a 304 refreshed it), bypass', labelNames: ['result'] as const,
    registers: [this.registry], collect: (): void => this.#collectCache(),
  });
  readonly #cacheBytes = new Gauge({ name: 'gatehouse_cache_memory_bytes', help: 'Bytes of answers held in the in-memory cache tier', registers: [this.registry] });
  readonly #cacheEntries = new Gauge({ name: 'gatehouse_cache_memory_entries', help: 'Answers held in the in-memory cache tier', registers: [this.registry] });
  /** Requests per route, then per status: plain numbers on the hot path, handed to prom-client at scrape time. */
  readonly #requestCounts = new Map<string, Map<number, RequestTally>>();

  /**
   * `processMetrics`: Node's process metrics (CPU, memory, GC, event-loop delay), only worth
   * collecting when an admin listener can serve them: prom-client's event-loop-delay monitor
   * alone wakes the process 100 times a second (about 5 ms of CPU a second when idle).
   */
  constructor(processMetrics = true) {
    if (processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'gatehouse_' });
  }

  /**
   * Per request: two Map lookups and an increment. A route label is the route's own string (its
   * hash is computed once) and a status a small integer, so nothing is built or hashed per call;
   * prom-client's labelled inc() validated and hashed its labels on every call.
   */
  request(route: string, status: number, protocol: Protocol): void {
    let byStatus = this.#requestCounts.get(route);
    if (byStatus === undefined) {
      byStatus = new Map();
      this.#requestCounts.set(route, byStatus);
    }
    let tally = byStatus.get(status);
    if (tally === undefined) {
      tally = { h1: 0, h2: 0 };
      byStatus.set(status, tally);
    }
    if (protocol === 'h2') tally.h2++;
    else tally.h1++;
  }

  #collectRequests(): void {
    this.#requests.reset();
    for (const [route, byStatus] of this.#requestCounts) {
      for (const [status, tally] of byStatus) {
        if (tally.h1 > 0) this.#requests.labels(route, String(status), 'http/1.1').inc(tally.h1);
        if (tally.h2 > 0) this.#requests.labels(route, String(status), 'h2').inc(tally.h2);
      }
    }
  }

  /** Connection-pool figures are read at scrape time: nothing on the request path. */
  watchPools(source: () => Iterable<PoolStats>): void {
    this.#pools = source;
  }

  #collectPools(): void {
    this.#upstreamOpened.reset();
    this.#upstreamIdle.reset();
    for (const pool of this.#pools()) {
      this.#upstreamOpened.labels(pool.target).inc(pool.opened);
      this.#upstreamIdle.labels(pool.target).set(pool.idle);
    }
  }

  /** ACME figures are read from storage at scrape time. */
  watchAcme(source: () => Promise<readonly AcmeHostMetric[]>): void {
    this.#acme = source;
  }

  async #collectAcme(pick: (m: AcmeHostMetric) => number | null, metric: Gauge<'host'> | Counter<'host'>): Promise<void> {
    const hosts = await this.#acme().catch(() => []);
    metric.reset();
    for (const m of hosts) {
      const value = pick(m);
      if (value === null) continue;
      if (metric instanceof Gauge) metric.labels(m.host).set(value);
      else metric.labels(m.host).inc(value);
    }
  }

  /** Cache figures are read at scrape time: the request path only bumps plain numbers. */
  watchCache(source: () => CacheFigures | undefined): void {
    this.#cache = source;
  }

  #collectCache(): void {
    const cache = this.#cache();
    this.#cacheResults.reset();
    if (cache === undefined) return;
    for (const [result, n] of Object.entries(cache.stats)) this.#cacheResults.labels(result).inc(n);
    this.#cacheBytes.set(cache.memory.bytes);
    this.#cacheEntries.set(cache.memory.entries);
  }

  /** Per request: one Map get and a walk of the bounds (TalliedHistogram); prom-client gets the counts at scrape time. */
  upstreamLatency(upstream: string, seconds: number): void {
    this.#upstreamLatency.record(upstream, seconds);
  }
}
