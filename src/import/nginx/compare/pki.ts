import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
// The same generator the tests and `npm start` use (openssl CLI); it ships in the package's scripts/.
import { makeCa, makeLeaf } from '../../../../scripts/certs.mjs';

/** A throwaway CA and one leaf for every name the config serves. */
export interface ComparePki {
  /** The CA certificate (PEM text), trusted by the comparing client through `ca`. */
  readonly caPem: string;
  /** Full chain (leaf + CA) and key paths, given to nginx and Gatehouse alike. */
  readonly cert: string;
  readonly key: string;
}

/**
 * Names for the leaf: the config's server_names that are DNS names or IPs (`*.x` kept, `.x`
 * as both `x` and `*.x`), regex names and `_` left out, plus localhost so the set is never empty.
 */
export function leafNames(serverNames: readonly string[]): string[] {
  const names = new Set<string>(['localhost']);
  for (const raw of serverNames) {
    const name = raw.toLowerCase();
    if (name === '' || name === '_' || name.startsWith('~') || name.includes('$')) continue;
    if (name.startsWith('.')) {
      names.add(name.slice(1));
      names.add(`*${name}`);
    } else if (isIP(name) !== 0 || /^(\*\.)?[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(name)) names.add(name);
  }
  return [...names];
}

/** A CA and a leaf for `serverNames` in `dir` (a temp dir the caller removes). */
export function makeComparePki(dir: string, serverNames: readonly string[]): ComparePki {
  const ca = makeCa(dir, { name: 'Gatehouse import --compare CA', days: 2 });
  const leaf = makeLeaf(dir, { ca, basename: 'site', sans: leafNames(serverNames), days: 1 });
  return { caPem: readFileSync(ca.cert, 'utf8'), cert: leaf.fullchain, key: leaf.key };
}
