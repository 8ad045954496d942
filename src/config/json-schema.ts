import { CONFIG } from './schema.js';
import type { Leaf, Shape } from './shape.js';

/*
 * `gatehouse schema`: the loader's own shape tree (schema.ts CONFIG) as a JSON Schema, draft
 * 2020-12, for yaml-language-server and other editors. Nothing here is written twice: types,
 * ranges, enums and defaults come from the shapes, descriptions from README's reference tables.
 * What a shape cannot say (a route names a defined upstream, a file exists) `gatehouse check` says.
 */

type Json = Record<string, unknown>;
/** README key as the reference writes it ("sites[].routes[].path") → its meaning, in Markdown. */
export type Describe = (key: string) => string | undefined;

const DURATION = '^\\s*\\d+(\\.\\d+)?\\s*(ms|s|m|h|d|y)\\s*$';
const SIZE = '^\\s*\\d+\\s*[kmgKMG]?[bB]?\\s*$';
const LISTEN = '^(\\d+|\\[[0-9a-fA-F:.]+\\]:\\d+|[^:\\[\\]]+:\\d+)$';

export function configJsonSchema(describe: Describe = () => undefined): Json {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'Gatehouse configuration',
    ...emit(CONFIG, '', describe),
  };
}

function emit(shape: Shape, key: string, describe: Describe): Json {
  const doc = documented(key, describe);
  switch (shape.kind) {
    case 'object': {
      const properties: Json = {};
      for (const [name, child] of Object.entries(shape.keys)) properties[name] = property(child, key === '' ? name : `${key}.${name}`, describe);
      const mapping: Json = { type: 'object', properties, additionalProperties: false, ...(shape.required === undefined ? {} : { required: shape.required }) };
      if (shape.orBoolean === undefined) return { ...doc, ...mapping };
      const flag = shape.orBoolean === 'both' ? { type: 'boolean' } : { const: shape.orBoolean === 'true' };
      return { ...doc, anyOf: [mapping, flag] };
    }
    case 'list':
      return { ...doc, type: 'array', items: emit(shape.items, `${key}[]`, describe), ...(shape.minItems === undefined ? {} : { minItems: shape.minItems }), ...defaultOf(shape.default) };
    case 'map': {
      const fixed: Json = {};
      for (const [name, child] of Object.entries(shape.fixed ?? {})) fixed[name] = property(child, `${key}.${name}`, describe);
      return {
        ...doc,
        type: 'object',
        ...(shape.fixed === undefined ? {} : { properties: fixed }),
        ...(shape.names === undefined ? {} : { propertyNames: shape.fixed === undefined ? { pattern: shape.names } : { anyOf: [{ pattern: shape.names }, { enum: Object.keys(shape.fixed) }] } }),
        additionalProperties: emit(shape.values, `${key}.NAME`, describe),
      };
    }
    case 'anyOf':
      return { ...doc, anyOf: shape.options.map((o) => emit(o, key, () => undefined)), ...defaultOf(shape.default) };
    case 'scalar':
      return { ...doc, type: ['string', 'number', 'boolean'] };
    default:
      return { ...doc, ...leaf(shape), ...defaultOf(shape.default) };
  }
}

/** A key of a mapping: the loader reads an absent and a null value alike wherever it falls back to a default. */
function property(shape: Shape, key: string, describe: Describe): Json {
  const schema = emit(shape, key, describe);
  const nullable = shape.kind === 'object' || shape.kind === 'list' || shape.kind === 'map' || shape.kind === 'anyOf'
    || ('read' in shape && (shape.nullable === true || (shape.default !== undefined && shape.default !== null)));
  if (!nullable) return schema;
  if (typeof schema.type === 'string') return { ...schema, type: [schema.type, 'null'] };
  if (Array.isArray(schema.anyOf)) return { ...schema, anyOf: [...(schema.anyOf as Json[]), { type: 'null' }] };
  const { description, markdownDescription, default: dflt, ...rest } = schema;
  return { ...(description === undefined ? {} : { description, markdownDescription }), ...(dflt === undefined ? {} : { default: dflt }), anyOf: [rest, { type: 'null' }] };
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- a Leaf of any value type
function leaf(shape: Leaf<any>): Json {
  switch (shape.kind) {
    case 'integer': return { type: 'integer', minimum: shape.min, maximum: shape.max };
    case 'boolean': return { type: 'boolean' };
    case 'enum': return { enum: shape.values };
    case 'duration': return { anyOf: [{ type: 'string', pattern: DURATION }, { type: 'number', minimum: 0 }] };
    case 'size': return { anyOf: [{ type: 'integer', minimum: shape.min, maximum: shape.max }, { type: 'string', pattern: SIZE }] };
    case 'listen': return { anyOf: [{ type: 'integer', minimum: 0, maximum: 65_535 }, { type: 'string', pattern: LISTEN }, ...(shape.allowFalse === true ? [{ const: false }] : [])] };
    default: return { type: 'string', ...(shape.allowEmpty === true ? {} : { minLength: 1 }), ...(shape.pattern === undefined ? {} : { pattern: shape.pattern }) };
  }
}

function defaultOf(value: unknown): Json {
  return value === undefined || value === null ? {} : { default: value };
}

function documented(key: string, describe: Describe): Json {
  const markdown = key === '' ? undefined : describe(key);
  if (markdown === undefined) return {};
  const plain = markdown.replace(/\[([^\]]*)\]\([^)]*\)/g, '$1').replace(/`|\*\*/g, '');
  return { description: plain, markdownDescription: markdown };
}

/**
 * README's reference rows ("| `key` | default | meaning |") as a Describe. The static-files and
 * compression tables name their keys without the route prefix ("files.root", "minLength").
 */
export function readmeDescriptions(readme: string): Describe {
  const rows = new Map<string, string>();
  let third = 'meaning';
  for (const line of readme.split('\n')) {
    const header = /^\| key \| default \| (\w+) \|/.exec(line);
    if (header !== null) third = header[1] as string;
    const m = /^\| `([^`]+)` \| [^|]*\| (.+) \|\s*$/.exec(line);
    if (m === null || rows.has(m[1] as string)) continue;
    const cell = (m[2] as string).trim().replace(/\\\|/g, '|');
    rows.set(m[1] as string, third === 'meaning' ? cell : `${third}: ${cell}`);
  }
  return (key) => {
    const exact = rows.get(key);
    if (exact !== undefined) return exact;
    const files = /\.(files\.[a-zA-Z]+|internal)$/.exec(key);
    if (files !== null) return rows.get(files[1] as string);
    const compress = /\.compress\.([a-zA-Z]+)$/.exec(key);
    return compress === null ? undefined : rows.get(compress[1] as string);
  };
}
