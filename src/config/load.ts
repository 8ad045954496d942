import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { isMap, isNode, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { Config } from './types.js';
import { validate } from './schema.js';
import type { Issue } from './values.js';

/** One problem as users see it: `FILE:LINE:COL message` (like a compiler, so editors can jump to it). */
export interface Problem {
  readonly file: string;
  readonly line: number;
  readonly col: number;
  readonly message: string;
  readonly severity: 'error' | 'warning';
}

export interface Loaded {
  readonly config: Config | undefined;
  readonly problems: readonly Problem[];
  /** The certificates and TLS settings, when the YAML parsed at all (so errors elsewhere hide no certificate problem). */
  readonly tls: Config['tls'] | undefined;
}

export function formatProblem(p: Problem): string {
  return `${p.file}:${p.line}:${p.col} ${p.severity === 'warning' ? 'warning: ' : ''}${p.message}`;
}

// Aliases are legitimate in small doses; thousands mean a "billion laughs" document.
const MAX_ALIASES = 200;
const MAX_BYTES = 4 * 1024 * 1024;

/** Read, parse and validate a config file. Never throws for bad input: everything wrong comes back as problems. */
export async function loadConfig(path: string): Promise<Loaded> {
  const file = resolve(path);
  let text: string;
  try {
    const buffer = await readFile(file);
    if (buffer.length > MAX_BYTES) return fail(file, 1, 1, `config file is larger than ${MAX_BYTES} bytes`);
    text = buffer.toString('utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' ? 'no such file; pass --config FILE or set GATEHOUSE_CONFIG' : `cannot read it (${code ?? String(err)})`;
    return fail(file, 1, 1, hint);
  }
  return parseConfig(text, file);
}

/** Parse YAML text as if read from `file` (exported for tests and for `check`). */
export function parseConfig(text: string, file: string): Loaded {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true, prettyErrors: false, strict: true });
  const at = (offset: number): { line: number; col: number } => lines.linePos(offset);
  const problems: Problem[] = [];
  for (const e of [...doc.errors, ...doc.warnings]) {
    const pos = at(e.pos[0]);
    problems.push({ file, ...pos, message: yamlMessage(e.code, e.message), severity: e.name === 'YAMLWarning' ? 'warning' : 'error' });
  }
  if (doc.errors.length > 0) return { config: undefined, problems, tls: undefined };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (err) {
    return { config: undefined, problems: [...problems, { file, line: 1, col: 1, message: `YAML: ${(err as Error).message}`, severity: 'error' }], tls: undefined };
  }
  const { config, issues, tls } = validate(raw, file);
  for (const issue of issues) problems.push({ file, ...at(offsetOf(doc, issue)), message: issue.message, severity: issue.severity });
  problems.sort((a, b) => a.line - b.line || a.col - b.col);
  return { config: config === undefined ? undefined : deepFreeze(config), problems, tls };
}

function fail(file: string, line: number, col: number, message: string): Loaded {
  return { config: undefined, problems: [{ file, line, col, message, severity: 'error' }], tls: undefined };
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0] ?? message;
  return code === 'DUPLICATE_KEY' ? 'duplicate key: each key may appear once in a mapping' : `YAML: ${first.replace(/ at line \d+, column \d+:?$/, '')}`;
}

/** The source offset of the node an issue names; walks up the path until something exists. */
function offsetOf(doc: Document, issue: Issue): number {
  for (let depth = issue.path.length; depth >= 0; depth--) {
    const path = issue.path.slice(0, depth);
    if (issue.on === 'key' && depth === issue.path.length && depth > 0) {
      const parent = path.length === 1 ? doc.contents : doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        const pair = parent.items.find((p) => isPair(p) && isScalar(p.key) && p.key.value === path[path.length - 1]);
        const key = pair?.key;
        if (isNode(key) && key.range) return key.range[0];
      }
      continue;
    }
    const node: unknown = depth === 0 ? doc.contents : doc.getIn(path, true);
    if (isNode(node) && (node as Node).range) return ((node as Node).range as [number, number, number])[0];
  }
  return 0;
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    if (value instanceof Map) {
      for (const v of value.values()) deepFreeze(v);
      // A frozen Map can still be .set(); make the mutators throw like a frozen object would.
      const frozen = value as unknown as Record<string, unknown>;
      for (const m of ['set', 'delete', 'clear']) frozen[m] = () => { throw new TypeError('config is read-only'); };
    } else {
      for (const v of Object.values(value)) deepFreeze(v);
    }
    Object.freeze(value);
  }
  return value;
}
