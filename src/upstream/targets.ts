import { createHash } from 'node:crypto';
import type { TargetConfig, UpstreamConfig } from '../config/types.js';
import { ConnectionPool, type KeepAlive } from './connections.js';
import { targetTls, type TargetTlsOptions } from './target-tls.js';
import { clientKey, pick } from './rendezvous.js';

/**
 * Runtime state of one target address. Keyed by address in the registry so health, counters
 * and pooled connections survive a config reload that keeps the address (cf. Caddy hosts.go).
 */
export class TargetState {
  readonly id: string;
  /** Registry identity: the address, plus the TLS trust settings for https targets. */
  readonly key: string;
  readonly config: TargetConfig;
  /** For https targets: SNI, name checked and trust, built once (empty for http). */
  readonly tls: TargetTlsOptions;
  readonly pool: ConnectionPool;
  /** Passive failures inside the current window (timestamps, ms). */
  #failures: number[] = [];
  #downUntil = 0;
  /** Verdict of the active probe; true until a probe says otherwise. */
  activeUp = true;

  constructor(config: TargetConfig, key: string, keepAlive: KeepAlive) {
    this.id = config.id;
    this.key = key;
    this.config = config;
    this.tls = config.protocol === 'https:' ? targetTls(config) : {};
    this.pool = new ConnectionPool(config, this.tls, keepAlive);
  }

  healthy(now: number): boolean {
    return this.activeUp && now >= this.#downUntil;
  }

  /**
   * healthy() at this moment, for the request path: the clock is read only while a passive down
   * window is set, so a request to a target never marked down reads none; a window found over is
   * cleared, and the next request reads none either.
   */
  usable(): boolean {
    if (!this.activeUp) return false;
    if (this.#downUntil === 0) return true;
    if (Date.now() < this.#downUntil) return false;
    this.#downUntil = 0;
    return true;
  }

  /** nginx's max_fails/fail_timeout: `maxFails` failures within `window` ms mark the target down for `window`. */
  recordFailure(now: number, maxFails: number, window: number): boolean {
    if (maxFails === 0) return false;
    this.#failures = this.#failures.filter((t) => now - t < window);
    this.#failures.push(now);
    if (this.#failures.length < maxFails) return false;
    this.#failures = [];
    this.#downUntil = now + window;
    return true;
  }

  recordSuccess(): void {
    if (this.#failures.length > 0) this.#failures = [];
  }

  /** Its active probe got an answer: passive failures no longer hold it down (README, `upstreams.NAME.healthCheck`). Returns true if that changed its health. */
  probedUp(now: number): boolean {
    const wasHealthy = this.healthy(now);
    this.activeUp = true;
    this.#failures = [];
    this.#downUntil = 0;
    return !wasHealthy;
  }

  destroy(): void {
    this.pool.close();
  }
}

/**
 * The registry key: the address, and for https targets what their certificates are checked
 * against, so a reload with another CA or name gets fresh connections (health starts over).
 */
function stateKey(config: TargetConfig): string {
  const tls = config.tls;
  if (tls === null) return config.id;
  const ca = tls.ca === null ? '-' : createHash('sha256').update(tls.ca).digest('hex').slice(0, 16);
  return `${config.id} ca=${ca} name=${tls.servername ?? '-'}`;
}

/** Owns every TargetState; reloads acquire by address, and addresses no config uses are released. */
export class TargetRegistry {
  readonly #targets = new Map<string, TargetState>();

  acquire(config: TargetConfig, keepAlive: KeepAlive): TargetState {
    const key = stateKey(config);
    let state = this.#targets.get(key);
    if (state === undefined) {
      state = new TargetState(config, key, keepAlive);
      this.#targets.set(key, state);
    }
    return state;
  }

  /**
   * Give every target's pool the keep-alive settings of the upstreams that list it, updating live
   * pools in place (a reload keeps their connections, health and counters). A target several
   * upstreams share has one pool: the smallest `keepalive` and `keepaliveTimeout` among them win,
   * since the backend's idle limit belongs to its address, whoever routes there.
   */
  configure(upstreams: Iterable<Upstream>): void {
    const settings = new Map<TargetState, KeepAlive>();
    for (const upstream of upstreams) {
      const own = keepAliveOf(upstream.config);
      for (const target of upstream.targets) {
        const other = settings.get(target);
        settings.set(target, other === undefined ? own : { max: Math.min(other.max, own.max), timeout: Math.min(other.timeout, own.timeout) });
      }
    }
    for (const [target, keepAlive] of settings) target.pool.configure(keepAlive);
  }

  /** Drop targets not in `keep` (after a reload has retired the config that used them). */
  retain(keep: ReadonlySet<string>): void {
    for (const [id, state] of this.#targets) {
      if (!keep.has(id)) {
        state.destroy();
        this.#targets.delete(id);
      }
    }
  }

  destroy(): void {
    this.retain(new Set());
  }

  /** Every live target (for scrape-time metrics). */
  all(): IterableIterator<TargetState> {
    return this.#targets.values();
  }
}

/** An upstream as the request path sees it: its targets' live state and the choice function. */
export class Upstream {
  readonly name: string;
  readonly config: UpstreamConfig;
  /** Every target, the primaries first and then the backups: what is probed, pooled and kept over a reload. */
  readonly targets: readonly TargetState[];
  readonly primaries: readonly TargetState[];
  /** nginx's `server … backup`: chosen only when no primary can take the request. */
  readonly backups: readonly TargetState[];
  /** Some tier has two targets or more: only then does a client's key choose between them (pick()). */
  readonly #hashes: boolean;

  constructor(config: UpstreamConfig, registry: TargetRegistry) {
    this.name = config.name;
    this.config = config;
    const keepAlive = keepAliveOf(config);
    this.primaries = config.targets.map((t) => registry.acquire(t, keepAlive));
    this.backups = config.backup.map((t) => registry.acquire(t, keepAlive));
    this.targets = this.backups.length === 0 ? this.primaries : [...this.primaries, ...this.backups];
    this.#hashes = this.primaries.length > 1 || this.backups.length > 1;
  }

  /** The hashing key for a client IP under this upstream's prefixes. */
  keyOf(clientIp: string): string {
    return clientKey(clientIp, this.config.hash.ipv4Prefix, this.config.hash.ipv6Prefix);
  }

  /** keyOf() for a request: '' when no tier has two targets to choose between (the key is never read then). */
  requestKey(clientIp: string): string {
    return this.#hashes ? this.keyOf(clientIp) : '';
  }

  /**
   * The client's highest-ranked healthy target not in `exclude` (targets already tried); a
   * backup only when no primary is left. Each tier is ranked on its own, so a client keeps its
   * primary whatever the backups are, and comes back to it when it is healthy again.
   */
  choose(key: string, exclude?: ReadonlySet<TargetState>): TargetState | undefined {
    return pick(key, this.primaries, exclude) ?? (this.backups.length === 0 ? undefined : pick(key, this.backups, exclude));
  }

  recordFailure(target: TargetState, now: number): boolean {
    return target.recordFailure(now, this.config.maxFails, this.config.failTimeout);
  }
}

function keepAliveOf(config: UpstreamConfig): KeepAlive {
  return { max: config.keepalive, timeout: config.keepaliveTimeout };
}
