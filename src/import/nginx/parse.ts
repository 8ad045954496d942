import { existsSync, readFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { ImportError } from './import-error.js';
import { expandGlob, isGlob } from './glob.js';
import { tokenize, type Token } from './tokens.js';

export { ImportError } from './import-error.js';

/** One nginx directive where it was written (includes are expanded, each directive keeps its own file). */
export interface Directive {
  name: string;
  args: string[];
  file: string;
  line: number;
  col: number;
  block?: Directive[];
}

export interface ReadOptions {
  /** nginx's `-p`/conf prefix: relative `include` paths resolve against it (default: see `includeBases`). */
  prefix?: string;
}

// A config that includes itself would otherwise recurse until the stack breaks.
const MAX_INCLUDE_DEPTH = 32;
const MAX_FILE_BYTES = 8 * 1024 * 1024;
const KEPT_WHEN_MISSING = new Set(['mime.types', 'options-ssl-nginx.conf']);

/**
 * Read an nginx configuration file as nginx would: tokens, blocks, quotes and escapes, comments,
 * `include` expanded in place (globs sorted like glob(3)). Throws ImportError at FILE:LINE:COL.
 */
export function readNginx(file: string, opts: ReadOptions = {}): Directive[] {
  const top = file;
  const stack: string[] = [];
  const readFile = (path: string, from?: Directive): Directive[] => {
    if (stack.length >= MAX_INCLUDE_DEPTH || stack.includes(resolve(path))) {
      throw new ImportError(from?.file ?? path, from?.line ?? 1, from?.col ?? 1, `include of "${path}" loops back to a file already being read`);
    }
    let text: string;
    try {
      const buffer = readFileSync(path);
      if (buffer.length > MAX_FILE_BYTES) throw new ImportError(path, 1, 1, `file is larger than ${MAX_FILE_BYTES} bytes`);
      text = buffer.toString('utf8');
    } catch (err) {
      if (err instanceof ImportError) throw err;
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      throw new ImportError(from?.file ?? path, from?.line ?? 1, from?.col ?? 1, `cannot read "${path}" (${code})`);
    }
    stack.push(resolve(path));
    const out = expand(build(tokenize(text, path), path));
    stack.pop();
    return out;
  };
  const expand = (ds: Directive[]): Directive[] => {
    const out: Directive[] = [];
    for (const d of ds) {
      if (d.name !== 'include' || d.block !== undefined) {
        out.push(d.block === undefined ? d : { ...d, block: expand(d.block) });
        continue;
      }
      const target = d.args[0];
      if (d.args.length !== 1 || target === undefined) throw new ImportError(d.file, d.line, d.col, 'invalid number of arguments in "include" directive');
      const files = includeTargets(target, d, top, opts.prefix);
      if (files === undefined) {
        // The stock `include mime.types;` and certbot's TLS options may point at files this machine
        // lacks; they mean nothing to Gatehouse, so they stay as written for the translator to list.
        if (KEPT_WHEN_MISSING.has(basename(target))) { out.push(d); continue; }
        throw new ImportError(d.file, d.line, d.col, `open() "${target}" failed (no such file; pass --prefix DIR for nginx's conf prefix)`);
      }
      for (const f of files) out.push(...readFile(f, d));
    }
    return out;
  };
  return readFile(file);
}

/**
 * Where nginx looks for a relative include: its conf prefix (`--prefix`). Without one, the
 * including file's directory, then the top file's, then the parent of a `sites-enabled`-style
 * directory (a fragment there includes `snippets/…` relative to /etc/nginx). `undefined`: no file.
 */
function includeTargets(target: string, d: Directive, top: string, prefix: string | undefined): string[] | undefined {
  const topDir = dirname(top);
  const bases = isAbsolute(target) ? [''] : prefix !== undefined ? [prefix] : unique([dirname(d.file), topDir, dirname(topDir)]);
  for (const base of bases) {
    const written = base === '' ? target : join(base, target);
    if (isGlob(target)) {
      // Names stay as the user wrote them (relative stays relative) so report lines read like their config.
      const files = expandGlob(resolve(written)).map((f) => (isAbsolute(written) ? f : relative(process.cwd(), f)));
      if (files.length > 0) return files;
      continue;
    }
    if (existsSync(written)) return [written];
  }
  // A glob matching nothing is no error to nginx.
  return isGlob(target) ? [] : undefined;
}

function unique(xs: string[]): string[] {
  return [...new Set(xs)];
}

/** Tokens → directive tree, with nginx's messages for misplaced `;`, `{` and `}`. */
function build(tokens: Token[], file: string): Directive[] {
  let i = 0;
  const level = (depth: number, opener: Token | undefined): Directive[] => {
    const out: Directive[] = [];
    let words: Token[] = [];
    for (;;) {
      const t = tokens[i++];
      if (t === undefined) {
        if (words.length > 0) {
          const last = words[words.length - 1] ?? words[0];
          throw new ImportError(file, last?.line ?? 1, last?.col ?? 1, 'unexpected end of file, expecting ";" or "}"');
        }
        if (depth > 0) throw new ImportError(file, opener?.line ?? 1, opener?.col ?? 1, 'unexpected end of file, expecting "}" to close this block');
        return out;
      }
      if (t.kind === 'word') { words.push(t); continue; }
      const head = words[0];
      if (t.kind === '}') {
        if (head !== undefined) throw new ImportError(file, t.line, t.col, 'unexpected "}"');
        if (depth === 0) throw new ImportError(file, t.line, t.col, 'unexpected "}"');
        return out;
      }
      if (head === undefined) throw new ImportError(file, t.line, t.col, `unexpected "${t.kind}"`);
      const d: Directive = { name: head.text, args: words.slice(1).map((w) => w.text), file, line: head.line, col: head.col };
      if (t.kind === '{') d.block = level(depth + 1, t);
      out.push(d);
      words = [];
    }
  };
  return level(0, undefined);
}

// What makes an argument need quotes for nginx to read it back as one word.
const NEEDS_QUOTES = /[\s;{}"'\\]|^#|^$/;

/** Valid nginx text for these directives (4-space indent), quoting every argument that needs it. */
export function printNginx(ds: readonly Directive[]): string {
  const lines: string[] = [];
  const walk = (list: readonly Directive[], indent: string): void => {
    for (const d of list) {
      const head = [d.name, ...d.args].map(quoteArg).join(' ');
      if (d.block === undefined) { lines.push(`${indent}${head};`); continue; }
      lines.push(`${indent}${head} {`);
      walk(d.block, `${indent}    `);
      lines.push(`${indent}}`);
    }
  };
  walk(ds, '');
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

/** One argument as nginx would read it back unchanged (`\` and `"` escaped inside double quotes). */
export function quoteArg(arg: string): string {
  if (!NEEDS_QUOTES.test(arg)) return arg;
  return `"${arg.replace(/[\\"]/g, '\\$&').replace(/\t/g, '\\t').replace(/\r/g, '\\r').replace(/\n/g, '\\n')}"`;
}
