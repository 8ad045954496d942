import type { IncomingHttpHeaders } from 'node:http';
import type { RateLimitConfig, RouteGuardConfig } from '../../config/guard.js';
import type { Config } from '../../config/types.js';
import { clientKey } from '../../upstream/rendezvous.js';
import type { Upstream } from '../../upstream/targets.js';
import { Access } from './access.js';
import { denial, type Denial } from './answer.js';
import { BasicAuth } from './auth-basic.js';
import { ForwardAuth } from './auth-forward.js';
import { retryAfterMs } from './gcra.js';
import type { RateStore } from './rate-store.js';
import type { GuardState } from './state.js';

/** One request (or upgrade) at the door: everything the checks read, after route and client address are known. */
export interface Knock {
  readonly method: string;
  /** The request-target as received. */
  readonly path: string;
  readonly host: string;
  readonly clientIp: string;
  /** Upstream-bound headers, sanitised and forwarded; auth.forward's copyHeaders land here. */
  readonly headers: IncomingHttpHeaders;
}

/** Where the verdict goes: a refusal to write, or the way on; response fields for a pass (RateLimit). */
export interface Door {
  deny(denial: Denial, extra: Readonly<Record<string, unknown>>): void;
  pass(): void;
  setHeader(name: string, value: string): void;
}

interface Limit {
  readonly config: RateLimitConfig;
  readonly store: RateStore;
  /** burst × T: how far ahead of now the TAT may run (gcra.ts). */
  readonly tolerance: number;
  readonly policy: string;
}

/**
 * A route's guard (README "Access control", "Rate limits"), in the order that keeps each check cheap and honest: access
 * (method, then addresses) costs a lookup; the rate limit comes before auth, so a login cannot
 * be brute-forced past it; then basic or forward auth. All before a byte goes upstream.
 */
export class Guard {
  readonly #state: GuardState;
  readonly #access: Access | undefined;
  readonly #limit: Limit | undefined;
  readonly #basic: BasicAuth | undefined;
  readonly #forward: ForwardAuth | undefined;

  constructor(config: RouteGuardConfig, all: Config, upstreams: ReadonlyMap<string, Upstream>, state: GuardState) {
    this.#state = state;
    this.#access = config.access === null ? undefined : new Access(config.access);
    const limit = config.rateLimit === null ? undefined : all.rateLimits.limits.get(config.rateLimit);
    if (limit !== undefined) {
      const tolerance = limit.interval * limit.burst;
      // draft-ietf-httpapi-ratelimit-headers: q requests at once, refilled in w seconds.
      const window = Math.max(1, Math.ceil((limit.burst + 1) * limit.interval / 1000));
      this.#limit = { config: limit, store: state.store(all.rateLimits.store), tolerance, policy: `"${limit.name}";q=${limit.burst + 1};w=${window}` };
    }
    const basic = config.auth?.basic ?? null;
    if (basic !== null) this.#basic = new BasicAuth(basic, state.htpasswd(basic.users), state.failures);
    const forward = config.auth?.forward ?? null;
    const upstream = forward === null ? undefined : upstreams.get(forward.upstream);
    if (forward !== null && upstream !== undefined) this.#forward = new ForwardAuth(forward, upstream, state.client, all.timeouts);
  }

  /** Decide, then call exactly one of door.deny or door.pass. */
  admit(knock: Knock, door: Door): void {
    const refused = this.#access?.check(knock.method, knock.clientIp);
    if (refused !== undefined) return door.deny(refused, {});
    if (this.#limit === undefined && this.#basic === undefined && this.#forward === undefined) return door.pass();
    this.#rest(knock, door).then(
      (verdict) => (verdict === undefined ? door.pass() : door.deny(verdict.denial, verdict.extra)),
      (err: unknown) => door.deny(denial('EDGE_ERR_INTERNAL', 'internal error', 'guard'), { err: (err as Error).message }),
    ).catch((err: unknown) => {
      // What pass or deny threw must not become an unhandled rejection (it would end the process).
      this.#state.log.error({ event: 'guard', err: (err as Error).message, path: knock.path }, 'guard step failed');
    });
  }

  async #rest(knock: Knock, door: Door): Promise<{ denial: Denial; extra: Record<string, unknown> } | undefined> {
    if (this.#limit !== undefined) {
      const limited = await this.#rate(this.#limit, knock, door);
      if (limited !== undefined) return limited;
    }
    const refused = await (this.#basic?.check(knock.headers, knock.clientIp)
      ?? this.#forward?.check({ method: knock.method, uri: knock.path, host: knock.host, clientIp: knock.clientIp, headers: knock.headers }));
    return refused === undefined ? undefined : { denial: refused, extra: {} };
  }

  async #rate(limit: Limit, knock: Knock, door: Door): Promise<{ denial: Denial; extra: Record<string, unknown> } | undefined> {
    const { config } = limit;
    const key = `${config.name}|${clientKey(knock.clientIp, config.ipv4Prefix, config.ipv6Prefix)}`;
    let decision;
    try {
      decision = await limit.store.take(key, config.interval, limit.tolerance);
    } catch (err) {
      this.#state.storeFailed(limit.store.kind, err as Error);
      this.#state.outcome(config.name, 'store_error');
      return undefined;
    }
    if (decision.allowed) {
      this.#state.outcome(config.name, 'allowed');
      if (config.headers) {
        const remaining = Math.max(0, Math.floor((limit.tolerance + config.interval - decision.ahead) / config.interval));
        door.setHeader('ratelimit-policy', limit.policy);
        door.setHeader('ratelimit', `"${config.name}";r=${remaining};t=${Math.ceil(decision.ahead / 1000)}`);
      }
      return undefined;
    }
    const retry = Math.max(1, Math.ceil(retryAfterMs(decision, limit.tolerance) / 1000));
    const extra = { event: 'rate-limited', limit: config.name, rate: config.rate, dryRun: config.dryRun, retryAfter: retry };
    if (config.dryRun) {
      this.#state.outcome(config.name, 'dry_run');
      this.#state.log.warn({ ...extra, clientIp: knock.clientIp, host: knock.host, path: knock.path, code: 'EDGE_ERR_RATE_LIMITED' }, 'rate limit exceeded (dryRun: served)');
      return undefined;
    }
    this.#state.outcome(config.name, 'limited');
    const headers: [string, string][] = [['retry-after', String(retry)]];
    if (config.headers) headers.push(['ratelimit-policy', limit.policy], ['ratelimit', `"${config.name}";r=0;t=${retry}`]);
    return { denial: denial('EDGE_ERR_RATE_LIMITED', 'rate limit exceeded', `rateLimit ${config.name}`, headers), extra };
  }
}

/** The guards of one runtime, by the route's (frozen) guard config; empty when no route has one. */
export class GuardTable {
  readonly #guards = new Map<RouteGuardConfig, Guard>();

  constructor(config: Config, upstreams: ReadonlyMap<string, Upstream>, state: GuardState | undefined) {
    if (state === undefined) return;
    for (const site of config.sites) {
      for (const route of site.routes) {
        if (route.guard !== null) this.#guards.set(route.guard, new Guard(route.guard, config, upstreams, state));
      }
    }
  }

  of(config: RouteGuardConfig): Guard | undefined {
    return this.#guards.get(config);
  }
}
