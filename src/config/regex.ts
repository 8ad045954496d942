import { setFlagsFromString } from 'node:v8';

/**
 * Route regexes cannot stall the edge: each runs on V8's fast backtracking engine until it has
 * backtracked REGEXP_BACKTRACKS times, and from there on V8's linear-time engine (O(pattern ×
 * path) whatever the pattern), so a path crafted against `^(a+)+$` costs milliseconds, not
 * years. Typical paths never reach the limit and keep the JIT's speed (the linear engine alone
 * measured ~15× slower per match: bench/RESULTS.md). The fallback only exists for patterns the
 * linear engine can run, so those it cannot — backreferences, lookarounds — are config errors
 * (checked by compiling with its `l` flag). It has no case-insensitive mode either, so
 * `caseInsensitive` folds ASCII letters into the pattern itself rather than using `i`.
 */
export function compileRouteRegex(source: string, caseInsensitive: boolean): RegExp | string {
  // Idempotent; needed in every process that compiles (workers load the config themselves).
  // Process-wide, and harmless elsewhere: only a regex past the limit changes engine.
  setFlagsFromString('--enable-experimental-regexp-engine');
  setFlagsFromString('--enable-experimental-regexp-engine-on-excessive-backtracks');
  setFlagsFromString(`--regexp-backtracks-before-fallback=${REGEXP_BACKTRACKS}`);
  const pattern = caseInsensitive ? foldCase(source) : source;
  try {
    new RegExp(source); // the plain syntax check first, so its message is about the user's text
  } catch (err) {
    return `not a valid regular expression: ${(err as Error).message.replace(/^Invalid regular expression: /, '')}`;
  }
  try {
    new RegExp(pattern, LINEAR);
  } catch {
    return 'backreferences and lookarounds are not supported: route regexes must be able to run on a linear-time engine, so no path can stall the edge';
  }
  return new RegExp(pattern);
}

/** Backtracks before a match moves to the linear engine (V8's default is 50,000). */
const REGEXP_BACKTRACKS = 10_000;

/** Group numbers and names a compiled regex offers to `{re.N}` / `{re.NAME}`. */
export function groupsOf(source: string): { readonly count: number; readonly names: readonly string[] } {
  const count = new RegExp(`${source}|`).exec('')?.length ?? 1;
  const names = [...source.matchAll(/\(\?<([A-Za-z_$][A-Za-z0-9_$]*)>/g)].map((m) => m[1] as string);
  return { count: count - 1, names };
}

/** V8's linear-engine flag (not in ES, so named apart from the call for the linter). */
const LINEAR = 'l';
const UPPER = /[A-Z]/;
const LOWER = /[a-z]/;

/**
 * `[aA]` for every ASCII letter outside a class, both cases inside one (ranges too). Escapes
 * (`\d`, `\x41`, `\p{…}`) and group names (`(?<name>`) are copied as written. Paths are ASCII
 * (RFC 3986 percent-encodes the rest), so ASCII folding is case-insensitivity for them.
 */
function foldCase(source: string): string {
  let out = '';
  let i = 0;
  while (i < source.length) {
    const c = source[i] as string;
    if (c === '\\') {
      const end = escapeEnd(source, i);
      out += source.slice(i, end);
      i = end;
    } else if (c === '(' && source.startsWith('(?<', i) && source[i + 3] !== '=' && source[i + 3] !== '!') {
      const end = source.indexOf('>', i) + 1;
      out += source.slice(i, end);
      i = end;
    } else if (c === '[') {
      const [text, end] = foldClass(source, i);
      out += text;
      i = end;
    } else {
      out += UPPER.test(c) || LOWER.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c;
      i++;
    }
  }
  return out;
}

function escapeEnd(source: string, i: number): number {
  const next = source[i + 1];
  if ((next === 'p' || next === 'P' || next === 'u' || next === 'k') && (source[i + 2] === '{' || source[i + 2] === '<')) {
    const close = source.indexOf(source[i + 2] === '{' ? '}' : '>', i);
    return close === -1 ? source.length : close + 1;
  }
  if (next === 'x') return i + 4;
  if (next === 'u') return i + 6;
  if (next === 'c') return i + 3;
  return i + 2;
}

function foldClass(source: string, start: number): [string, number] {
  let i = start + 1;
  let body = '';
  const extra: string[] = [];
  if (source[i] === '^') {
    body += '^';
    i++;
  }
  while (i < source.length && source[i] !== ']') {
    if (source[i] === '\\') {
      const end = escapeEnd(source, i);
      body += source.slice(i, end);
      i = end;
      continue;
    }
    const lo = source[i] as string;
    const ranged = source[i + 1] === '-' && source[i + 2] !== undefined && source[i + 2] !== ']' && source[i + 2] !== '\\';
    const hi = ranged ? source[i + 2] as string : lo;
    body += ranged ? `${lo}-${hi}` : lo;
    i += ranged ? 3 : 1;
    for (const [from, to, shift] of [[65, 90, 32], [97, 122, -32]] as const) {
      const a = Math.max(lo.charCodeAt(0), from);
      const b = Math.min(hi.charCodeAt(0), to);
      if (a <= b) extra.push(`${String.fromCharCode(a + shift)}-${String.fromCharCode(b + shift)}`);
    }
  }
  return [`[${body}${extra.join('')}]`, i + 1];
}
