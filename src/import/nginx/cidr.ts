import { isIP } from 'node:net';

/** One address block, as a number and a prefix length, for set arithmetic on nginx's allow/deny. */
export interface Net {
  readonly v6: boolean;
  readonly base: bigint;
  readonly prefix: number;
}

const bitsOf = (v6: boolean): number => (v6 ? 128 : 32);

/** Every address of one family: `all` in nginx is both. */
export const EVERYTHING: readonly Net[] = [{ v6: false, base: 0n, prefix: 0 }, { v6: true, base: 0n, prefix: 0 }];

/** "10.0.0.0/8", "192.0.2.7", "2001:db8::/32" → a Net with host bits cleared (as nginx does); undefined: not one. */
export function parseNet(text: string): Net | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return undefined;
  const v6 = family === 6;
  const bits = bitsOf(v6);
  const prefix = prefixText === undefined ? bits : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= bits)) return undefined;
  const value = v6 ? v6Value(address) : address.split('.').reduce((n, o) => (n << 8n) | BigInt(Number(o)), 0n);
  return { v6, base: value & mask(v6, prefix), prefix };
}

function mask(v6: boolean, prefix: number): bigint {
  const bits = BigInt(bitsOf(v6));
  return ((1n << bits) - 1n) ^ ((1n << (bits - BigInt(prefix))) - 1n);
}

function v6Value(address: string): bigint {
  let text = address;
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted !== null) {
    const o = (dotted[1] as string).split('.').map(Number);
    text = `${text.slice(0, dotted.index)}${(((o[0] ?? 0) << 8) | (o[1] ?? 0)).toString(16)}:${(((o[2] ?? 0) << 8) | (o[3] ?? 0)).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.reduce((n, g) => (n << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether every address of `inner` is in `outer`. */
export function within(inner: Net, outer: Net): boolean {
  return inner.v6 === outer.v6 && inner.prefix >= outer.prefix && (inner.base & mask(outer.v6, outer.prefix)) === outer.base;
}

/** `a` without the addresses of `b`, as the fewest blocks (the halves of `a` that miss `b`). */
export function subtract(a: Net, b: Net): Net[] {
  if (within(a, b)) return [];
  if (!within(b, a)) return [a];
  const out: Net[] = [];
  const bits = bitsOf(a.v6);
  for (let p = a.prefix + 1; p <= b.prefix; p++) {
    // The half at depth p that does not hold b.
    const bit = 1n << BigInt(bits - p);
    out.push({ v6: a.v6, base: (b.base & mask(a.v6, p)) ^ bit, prefix: p });
  }
  return out;
}

/** `nets` without every address in `minus`. */
export function subtractAll(nets: readonly Net[], minus: readonly Net[]): Net[] {
  let out = [...nets];
  for (const m of minus) out = out.flatMap((n) => (within(n, m) ? [] : within(m, n) ? subtract(n, m) : [n]));
  return out;
}

/** A Net as Gatehouse's config writes it: "10.0.0.0/8"; a single address without its /32 or /128. */
export function formatNet(n: Net): string {
  const address = n.v6 ? formatV6(n.base) : [24n, 16n, 8n, 0n].map((s) => String((n.base >> s) & 255n)).join('.');
  return n.prefix === bitsOf(n.v6) ? address : `${address}/${n.prefix}`;
}

function formatV6(value: bigint): string {
  const groups = Array.from({ length: 8 }, (_, i) => Number((value >> BigInt(112 - 16 * i)) & 0xffffn));
  // RFC 5952 §4.2: the longest run of two or more zero groups becomes "::".
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) [best, bestLen] = [i, j - i];
    i = j === i ? i + 1 : j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}
