/**
 * Open client connections of one process, in total and per client address (README "Running several instances": Connection caps). Shared
 * by :443 and :80; the caps are read per connection so a reload applies to new ones. Each
 * successful enter/enterIp is matched by exactly one leave/leaveIp, which the front door makes
 * from the socket's one 'close' event (no release closure per connection).
 */
export class ConnectionGate {
  #open = 0;
  readonly #perIp = new Map<string, number>();

  /** Count a new connection unless `cap` (0 = none) is reached; false when refused. */
  enter(cap: number): boolean {
    if (cap > 0 && this.#open >= cap) return false;
    this.#open++;
    return true;
  }

  /** A connection counted by enter() closed. */
  leave(): void {
    this.#open--;
  }

  /** Count a connection against its client address, unless `cap` (0 = none) is reached. */
  enterIp(address: string, cap: number): boolean {
    const n = this.#perIp.get(address) ?? 0;
    if (cap > 0 && n >= cap) return false;
    this.#perIp.set(address, n + 1);
    return true;
  }

  /** A connection counted by enterIp(address) closed. */
  leaveIp(address: string): void {
    const left = (this.#perIp.get(address) ?? 1) - 1;
    if (left <= 0) this.#perIp.delete(address);
    else this.#perIp.set(address, left);
  }

  get open(): number {
    return this.#open;
  }
}
