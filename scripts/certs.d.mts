export interface Pair { readonly cert: string; readonly key: string }
export interface Leaf extends Pair { readonly fullchain: string }
export function makeCa(dir: string, options?: { name?: string; days?: number; basename?: string }): Pair;
export function makeLeaf(dir: string, options: {
  ca: Pair; basename?: string; sans?: readonly string[]; keyType?: 'ec' | 'rsa'; notBefore?: Date; notAfter?: Date; days?: number;
}): Leaf;
export function ensureDevCerts(dir: string): { created: boolean; ca: string; cert: string; key: string };
