import * as zlib from 'node:zlib';

/** Content codings Gatehouse produces (RFC 9110 §8.4.1; zstd is RFC 8878). */
export type Coding = 'zstd' | 'br' | 'gzip';

export const CODINGS: readonly Coding[] = ['zstd', 'br', 'gzip'];

/** The runtime can make zstd (Node ≥ 22.15 / 23.8); a config naming it on an older one is an error. */
export function zstdAvailable(): boolean {
  return typeof (zlib as { createZstdCompress?: unknown }).createZstdCompress === 'function';
}

/**
 * The coding to answer with: the highest q-value the client gives among `offered` (server
 * preference order), ties broken by that order; `*` stands for codings not named; q=0 refuses
 * (RFC 9110 §12.5.3). undefined: identity.
 */
export function negotiate(acceptEncoding: string | undefined, offered: readonly Coding[]): Coding | undefined {
  if (acceptEncoding === undefined || acceptEncoding === '' || offered.length === 0) return undefined;
  let star: number | undefined;
  const named = new Map<string, number>();
  for (const part of acceptEncoding.split(',')) {
    const semi = part.indexOf(';');
    const name = (semi === -1 ? part : part.slice(0, semi)).trim().toLowerCase();
    if (name === '') continue;
    const q = semi === -1 ? 1 : qValue(part.slice(semi + 1));
    if (name === '*') star = q;
    else named.set(name === 'x-gzip' ? 'gzip' : name, q);
  }
  let best: Coding | undefined;
  let bestQ = 0;
  for (const coding of offered) {
    const q = named.get(coding) ?? star ?? 0;
    if (q > bestQ) {
      best = coding;
      bestQ = q;
    }
  }
  return best;
}

/** Every coding of `offered` the client accepts, best first (q-value, then `offered` order). */
export function negotiateAll(acceptEncoding: string | undefined, offered: readonly Coding[]): Coding[] {
  const out: Coding[] = [];
  let left = offered;
  for (let best = negotiate(acceptEncoding, left); best !== undefined; best = negotiate(acceptEncoding, left)) {
    out.push(best);
    const taken = best;
    left = left.filter((c) => c !== taken);
  }
  return out;
}

/** `q=0.5` among parameters; a malformed weight counts as 0 (refusal is the safe reading). */
function qValue(params: string): number {
  const m = /(?:^|;)\s*q\s*=\s*([^;\s]*)/i.exec(params);
  if (m === null) return 1;
  const q = /^(?:0(?:\.\d{0,3})?|1(?:\.0{0,3})?)$/.test(m[1] ?? '') ? Number(m[1]) : 0;
  return q;
}

/** File name suffix of a precompressed sibling (FILE.br beside FILE). */
export const SUFFIX: Readonly<Record<Coding, string>> = { zstd: '.zst', br: '.br', gzip: '.gz' };
