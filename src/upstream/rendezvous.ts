/*
 * Rendezvous (highest-random-weight) hashing: every (client, target) pair gets a weight from
 * a fixed hash and the client goes to the heaviest healthy target. Unlike "hash mod n",
 * removing a target moves only the clients it had, and unlike consistent-hash rings it needs
 * no virtual nodes to spread evenly. The hash is FNV-1a + murmur3's finaliser: seedless and
 * platform-independent, so every worker, restart and separate instance agrees.
 */

const FNV_OFFSET = 0x811c9dc5;

/** FNV-1a over a string's UTF-16 code units, continuing from `state`. */
export function fnv1a(text: string, state = FNV_OFFSET): number {
  let h = state;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** murmur3 fmix32: spreads FNV's weak low bits across the whole word. */
function mix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The hashing key of a client: its address with the host bits beyond the prefix cleared. */
export function clientKey(ip: string, ipv4Prefix: number, ipv6Prefix: number): string {
  // `ip` is an address the edge read from a socket or a trusted header, already checked: a colon
  // is what tells the families apart (an IPv4-mapped IPv6 address has one too), no regex needed.
  if (!ip.includes(':')) return ipv4Prefix >= 32 ? ip : maskV4(ip, ipv4Prefix);
  return ipv6Prefix >= 128 ? expandV6(ip).join(':') : maskV6(ip, ipv6Prefix);
}

function maskV4(ip: string, prefix: number): string {
  const parts = ip.split('.').map(Number);
  const value = (((parts[0] ?? 0) << 24) | ((parts[1] ?? 0) << 16) | ((parts[2] ?? 0) << 8) | (parts[3] ?? 0)) >>> 0;
  const masked = prefix === 0 ? 0 : (value & (0xffffffff << (32 - prefix))) >>> 0;
  return `${masked >>> 24}.${(masked >>> 16) & 255}.${(masked >>> 8) & 255}.${masked & 255}/${prefix}`;
}

function expandV6(ip: string): number[] {
  const zone = ip.indexOf('%');
  const bare = zone === -1 ? ip : ip.slice(0, zone);
  const [head = '', tail] = bare.split('::');
  const parse = (s: string): number[] => (s === '' ? [] : s.split(':').flatMap((g) => {
    if (g.includes('.')) { // embedded IPv4 (e.g. ::ffff:1.2.3.4 that was not normalised)
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      return [(a << 8) | b, (c << 8) | d];
    }
    return [parseInt(g, 16)];
  }));
  const left = parse(head);
  const right = tail === undefined ? [] : parse(tail);
  return [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
}

function maskV6(ip: string, prefix: number): string {
  const groups = expandV6(ip).map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 16 ? g : bits === 0 ? 0 : g & (0xffff << (16 - bits)) & 0xffff;
  });
  return `${groups.map((g) => g.toString(16)).join(':')}/${prefix}`;
}

/** The state a client key contributes to every weight; computed once per request. */
function keyHash(key: string): number {
  return fnv1a('|', fnv1a(key));
}

/** Weight of one target for a client: hash of "key|targetId". */
function weight(keyState: number, targetId: string): number {
  return mix(fnv1a(targetId, keyState));
}

/** All targets, heaviest first: the order a client tries them in (pure; used by tests and tools). */
export function rank(key: string, targetIds: readonly string[]): string[] {
  const k = keyHash(key);
  return targetIds
    .map((id) => ({ id, w: weight(k, id) }))
    .sort((a, b) => b.w - a.w || (a.id < b.id ? -1 : 1))
    .map((e) => e.id);
}

/** What pick() asks of a target: its id (the hash input) and whether it may take a request now. */
export interface Rankable {
  readonly id: string;
  usable(): boolean;
}

/**
 * The heaviest target healthy at `now` and not in `exclude`, without allocating (this runs per
 * request: no closure, and no hashing at all while only one target is usable).
 * Ties, vanishingly rare, go to the lower id so every process breaks them alike.
 */
export function pick<T extends Rankable>(key: string, targets: readonly T[], exclude: ReadonlySet<T> | undefined): T | undefined {
  let best: T | undefined;
  let bestWeight = -1;
  let k = 0;
  for (const t of targets) {
    if (!t.usable() || (exclude !== undefined && exclude.has(t))) continue;
    if (best === undefined) {
      best = t;
      continue;
    }
    if (bestWeight === -1) {
      // A second usable target: only now does the client's key decide.
      k = keyHash(key);
      bestWeight = weight(k, best.id);
    }
    const w = weight(k, t.id);
    if (w > bestWeight || (w === bestWeight && t.id < best.id)) {
      best = t;
      bestWeight = w;
    }
  }
  return best;
}
