import type { IncomingHttpHeaders } from 'node:http';
import type { Entry } from './entry.js';
import { variantOf } from './key.js';

/** A key's Vary names (its latest answer's), the ids of its stored variants, and its id when it varies on nothing. */
interface KeyRecord {
  readonly vary: readonly string[];
  readonly variants: Set<string>;
  readonly plain: string;
}

/**
 * The in-process tier: entries by key and variant, least recently used first out, bounded by
 * bytes (`cache.memory`). A Map keeps insertion order, so a hit moves its entry to the end and
 * eviction takes from the front: O(1) both ways, no list of our own.
 */
export class MemoryStore {
  #limit: number;
  #used = 0;
  /** `key \0 variant` → entry, least recently used first. */
  readonly #entries = new Map<string, Entry>();
  /** key → the Vary names of its latest answer, and every variant stored under it. */
  readonly #keys = new Map<string, KeyRecord>();

  constructor(limit: number) {
    this.#limit = limit;
  }

  /** Entries larger than this are not kept in memory (one answer must not flush the rest). */
  get entryLimit(): number {
    return Math.floor(this.#limit / 4);
  }

  get bytes(): number {
    return this.#used;
  }

  get count(): number {
    return this.#entries.size;
  }

  resize(limit: number): void {
    this.#limit = limit;
    this.#evict();
  }

  get(key: string, headers: IncomingHttpHeaders): Entry | undefined {
    const known = this.#keys.get(key);
    if (known === undefined) return undefined;
    // Most keys vary on nothing: their one id is kept, not built (and hashed) again on every hit.
    const id = known.vary.length === 0 ? known.plain : `${key}\0${variantOf(known.vary, headers)}`;
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    this.#entries.delete(id);
    this.#entries.set(id, entry);
    return entry;
  }

  put(entry: Entry): void {
    if (entry.size > this.entryLimit) return;
    const id = `${entry.key}\0${entry.variant}`;
    this.#remove(id);
    let known = this.#keys.get(entry.key);
    // The upstream changed what it varies on: the old variants can no longer be selected.
    if (known !== undefined && known.vary.join(',') !== entry.vary.join(',')) {
      this.delete(entry.key);
      known = undefined;
    }
    if (known === undefined) {
      known = { vary: entry.vary, variants: new Set(), plain: `${entry.key}\0` };
      this.#keys.set(entry.key, known);
    }
    known.variants.add(id);
    this.#entries.set(id, entry);
    this.#used += entry.size;
    this.#evict();
  }

  /** Every variant of `key`; returns how many went. */
  delete(key: string): number {
    const known = this.#keys.get(key);
    if (known === undefined) return 0;
    let n = 0;
    for (const id of [...known.variants]) n += this.#remove(id) ? 1 : 0;
    this.#keys.delete(key);
    return n;
  }

  /** Every key starting with `prefix` (an admin operation: a walk over the keys). */
  deletePrefix(prefix: string): number {
    let n = 0;
    for (const key of [...this.#keys.keys()]) if (key.startsWith(prefix)) n += this.delete(key);
    return n;
  }

  #remove(id: string): boolean {
    const old = this.#entries.get(id);
    if (old === undefined) return false;
    this.#entries.delete(id);
    this.#used -= old.size;
    const known = this.#keys.get(old.key);
    known?.variants.delete(id);
    if (known?.variants.size === 0) this.#keys.delete(old.key);
    return true;
  }

  #evict(): void {
    for (const id of this.#entries.keys()) {
      if (this.#used <= this.#limit) return;
      this.#remove(id);
    }
  }
}
