/**
 * GCRA (the generic cell rate algorithm, ITU-T I.371; what nginx's limit_req approximates with a
 * leaky bucket): one number per key, the theoretical arrival time (TAT) of the next request at
 * the sustained rate. A request at `now` is served when TAT − now ≤ burst × T, and then moves TAT
 * on by T; so `burst` requests are served at once beyond the rate, and the budget refills
 * continuously instead of per window (no double burst at a window edge).
 */

/** One decision: `ahead` is TAT − now in ms, after the request when served, before it when refused. */
export interface Decision {
  readonly allowed: boolean;
  readonly ahead: number;
}

/** The pure step: `tat` stored (0 when none), the new TAT to store (unchanged when refused). */
export function gcraStep(tat: number, now: number, interval: number, tolerance: number): { readonly decision: Decision; readonly tat: number } {
  const from = tat > now ? tat : now;
  if (from - now > tolerance) return { decision: { allowed: false, ahead: from - now }, tat };
  const next = from + interval;
  return { decision: { allowed: true, ahead: next - now }, tat: next };
}

/** ms until a refused request would be served. */
export function retryAfterMs(decision: Decision, tolerance: number): number {
  return Math.max(0, decision.ahead - tolerance);
}

/** Sweep expired keys after this many new ones: memory stays bounded by the live keys without a timer. */
const SWEEP_EVERY = 4096;

/** In-memory TATs for this process (or, with workers, for the primary that answers them all). */
export class GcraTable {
  readonly #tats = new Map<string, number>();
  #added = 0;

  take(key: string, now: number, interval: number, tolerance: number): Decision {
    const stored = this.#tats.get(key);
    const step = gcraStep(stored ?? 0, now, interval, tolerance);
    if (step.decision.allowed) {
      if (stored === undefined && ++this.#added >= SWEEP_EVERY) this.#sweep(now);
      this.#tats.set(key, step.tat);
    }
    return step.decision;
  }

  /** Would a request be served now? Nothing is spent (auth failures count only once they fail). */
  peek(key: string, now: number, tolerance: number): Decision {
    const tat = this.#tats.get(key) ?? 0;
    const ahead = tat > now ? tat - now : 0;
    return { allowed: ahead <= tolerance, ahead };
  }

  get size(): number {
    return this.#tats.size;
  }

  /** A TAT in the past is the same as no entry. */
  #sweep(now: number): void {
    this.#added = 0;
    for (const [key, tat] of this.#tats) if (tat <= now) this.#tats.delete(key);
  }
}
