import { Reader, type Path } from './values.js';

/*
 * The config's shape as data: each key once, with its type, range and default. The loader reads
 * leaves through `field`/`fields` (the default is looked up once, here, not at every use), takes
 * each mapping's allowed keys from `keysOf`, and `gatehouse schema` turns the same tree into a
 * JSON Schema (config/json-schema.ts). Rules a shape cannot say — a route names a defined
 * upstream, a file exists — stay in the section readers.
 */

/** A scalar key: how to read it, what it defaults to, and that default already read. */
export interface Leaf<T> {
  readonly kind: 'integer' | 'boolean' | 'enum' | 'string' | 'duration' | 'size' | 'listen' | 'cidr' | 'target';
  /** As written in DEFAULTS (and README), e.g. "5s"; undefined: the key has no default. */
  readonly default?: unknown | undefined;
  readonly min?: number | undefined;
  readonly max?: number | undefined;
  readonly values?: readonly (string | number)[] | undefined;
  /** `false` turns it off (listen addresses). */
  readonly allowFalse?: boolean | undefined;
  /** null is accepted and means "off" (a default of null). */
  readonly nullable?: boolean | undefined;
  /** Strings: a JSON Schema pattern the text must match; `allowEmpty`: "" is a value too. */
  readonly pattern?: string | undefined;
  readonly allowEmpty?: boolean | undefined;
  readonly read: (r: Reader, value: unknown, path: Path) => T | undefined;
  /** The default as the reader returns it (ms, bytes…), used when the given value was refused. */
  readonly fallback: T;
}

export interface ListShape {
  readonly kind: 'list';
  readonly items: Shape;
  readonly minItems?: number | undefined;
  readonly default?: readonly unknown[] | undefined;
}

export interface ObjectShape<K extends Record<string, Shape> = Record<string, Shape>> {
  readonly kind: 'object';
  readonly keys: K;
  readonly required?: readonly string[] | undefined;
  /** Written `true`/`false` instead of a mapping (compress: true, healthCheck: false). */
  readonly orBoolean?: 'true' | 'false' | 'both' | undefined;
}

/** A mapping of user-chosen names (upstreams.NAME) to one shape. */
export interface MapShape {
  readonly kind: 'map';
  readonly values: Shape;
  /** Names that mean something else (rateLimits.store). */
  readonly fixed?: Readonly<Record<string, Shape>> | undefined;
  /** JSON Schema pattern the names must match (errorPages' "404" or "502 503 504"). */
  readonly names?: string | undefined;
}

/** One of several forms (listen.https: an address or a list of them). */
export interface AnyOfShape {
  readonly kind: 'anyOf';
  readonly options: readonly Shape[];
  readonly default?: unknown | undefined;
}

/** A value read by its section's own code: header values, templates (strings, numbers or booleans). */
export interface ScalarShape {
  readonly kind: 'scalar';
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Leaf of any value type fits a Shape
export type Shape = Leaf<any> | ListShape | ObjectShape | MapShape | AnyOfShape | ScalarShape;

function leaf<T>(spec: Omit<Leaf<T>, 'fallback'>): Leaf<T> {
  const fallback = spec.default === undefined || spec.default === null ? undefined : spec.read(new Reader(), spec.default, []);
  return Object.freeze({ ...spec, fallback: fallback as T });
}

export const integer = (min: number, max: number, dflt?: number): Leaf<number> =>
  leaf({ kind: 'integer', min, max, default: dflt, read: (r, v, p) => r.integer(v, p, min, max) });
export const boolean = (dflt?: boolean): Leaf<boolean> => leaf({ kind: 'boolean', default: dflt, read: (r, v, p) => r.boolean(v, p) });
export const oneOf = <T extends string | number>(values: readonly T[], dflt?: T): Leaf<T> =>
  leaf({ kind: 'enum', values, default: dflt, read: (r, v, p) => r.oneOf(v, p, values) });
export const string = (dflt?: string | null, pattern?: string): Leaf<string> =>
  leaf({ kind: 'string', default: dflt, nullable: dflt === null, pattern, read: (r, v, p) => r.string(v, p) });
/** Text read by its section's code ("" allowed: a respond body may be empty). */
export const text = (): Leaf<string> => leaf({ kind: 'string', allowEmpty: true, read: (r, v, p) => (typeof v === 'string' ? v : r.error(p, 'expected a string')) });
/** A duration; with `min` (ms) it drives a timer (Reader.timer: at least min, at most 24d). */
export const duration = (dflt?: string, min?: number): Leaf<number> =>
  leaf({ kind: 'duration', default: dflt, min, read: (r, v, p) => (min === undefined ? r.duration(v, p) : r.timer(v, p, min)) });
export const size = (min: number, max: number, dflt?: number | string): Leaf<number> =>
  leaf({ kind: 'size', min, max, default: dflt, read: (r, v, p) => r.size(v, p, min, max) });
export const listenAddress = (allowFalse: boolean, dflt?: number | string | false): Leaf<ReturnType<Reader['listen']>> =>
  leaf({ kind: 'listen', allowFalse, default: dflt, read: (r, v, p) => r.listen(v, p, allowFalse) });
export const cidr = (): Leaf<ReturnType<Reader['cidr']>> => leaf({ kind: 'cidr', read: (r, v, p) => r.cidr(v, p) });
export const target = (): Leaf<string> => leaf({ kind: 'target', read: (r, v, p) => r.string(v, p) });

export const list = (items: Shape, extra: { minItems?: number | undefined; default?: readonly unknown[] | undefined } = {}): ListShape => ({ kind: 'list', items, ...extra });
export const object = <K extends Record<string, Shape>>(keys: K, extra: { required?: readonly (keyof K & string)[] | undefined; orBoolean?: ObjectShape['orBoolean'] } = {}): ObjectShape<K> =>
  ({ kind: 'object', keys, ...extra });
export const map = (values: Shape, extra: { fixed?: Record<string, Shape>; names?: string } = {}): MapShape => ({ kind: 'map', values, ...extra });
export const anyOf = (options: readonly Shape[], dflt?: unknown): AnyOfShape => ({ kind: 'anyOf', options, default: dflt });
export const scalar = (): ScalarShape => ({ kind: 'scalar' });

/** The keys a mapping may have, in the order error messages list them. */
export function keysOf(shape: ObjectShape): readonly string[] {
  return Object.keys(shape.keys);
}

/** One leaf of a mapping, its default standing in when absent (or null) and when the value is refused. */
export function field<T>(r: Reader, o: Record<string, unknown>, path: Path, key: string, shape: Leaf<T>): T {
  return shape.read(r, o[key] ?? shape.default, [...path, key]) ?? shape.fallback;
}

type LeafKeys<K> = { [P in keyof K]: K[P] extends Leaf<unknown> ? P : never }[keyof K];
export type LeafValues<K> = { [P in LeafKeys<K>]: K[P] extends Leaf<infer T> ? T : never };

/** One leaf, its default standing in when absent; undefined when the value was refused. */
export function given<T>(r: Reader, o: Record<string, unknown>, path: Path, key: string, shape: Leaf<T>): T | undefined {
  return shape.read(r, o[key] ?? shape.default, [...path, key]);
}

/** Every leaf of a mapping with a default, read at once: `{ key: value }`. */
export function fields<K extends Record<string, Shape>>(r: Reader, o: Record<string, unknown>, path: Path, shape: ObjectShape<K>): LeafValues<K> {
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(shape.keys)) {
    if ('read' in s && s.default !== undefined && s.default !== null) out[key] = field(r, o, path, key, s);
  }
  return out as LeafValues<K>;
}
