/**
 * Open client connections of one process, in total and per client address (README "Running several instances": Connection caps). Shared
 * by :443 and :80; the caps are read per connection so a reload applies to new ones.
 */
export class ConnectionGate {
  #open = 0;
  readonly #perIp = new Map<string, number>();

  /** Count a new connection unless `cap` (0 = none) is reached; the returned release must run once, on close. */
  enter(cap: number): (() => void) | null {
    if (cap > 0 && this.#open >= cap) return null;
    this.#open++;
    return once(() => { this.#open--; });
  }

  /** Count a connection against its client address, unless `cap` (0 = none) is reached. */
  enterIp(address: string, cap: number): (() => void) | null {
    const n = this.#perIp.get(address) ?? 0;
    if (cap > 0 && n >= cap) return null;
    this.#perIp.set(address, n + 1);
    return once(() => {
      const left = (this.#perIp.get(address) ?? 1) - 1;
      if (left === 0) this.#perIp.delete(address);
      else this.#perIp.set(address, left);
    });
  }

  get open(): number {
    return this.#open;
  }
}

function once(fn: () => void): () => void {
  let done = false;
  return () => {
    if (done) return;
    done = true;
    fn();
  };
}
