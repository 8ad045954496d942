import { readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';

const MAGIC = /[*?[]/;

/** Whether nginx would treat this include path as a glob (ngx_conf_include: `strpbrk(file, "*?[")`). */
export function isGlob(path: string): boolean {
  return MAGIC.test(path);
}

/**
 * The files an absolute glob names, as glob(3) with no flags gives them to nginx: sorted in byte
 * order, `*` and `?` never matching a leading dot, directories left out (nginx skips them).
 */
export function expandGlob(pattern: string): string[] {
  const parts = pattern.split(sep);
  let found = [parts[0] === '' ? sep : (parts[0] ?? '')];
  for (const part of parts.slice(1)) {
    if (part === '') continue;
    const next: string[] = [];
    for (const dir of found) {
      if (!isGlob(part)) { next.push(join(dir, part)); continue; }
      const re = segmentRegex(part);
      let names: string[];
      try { names = readdirSync(dir); } catch { continue; }
      for (const name of names) if (re.test(name)) next.push(join(dir, name));
    }
    found = next;
  }
  return found.filter(isFile).sort(byteOrder);
}

function isFile(path: string): boolean {
  try { return statSync(path).isFile(); } catch { return false; }
}

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/** One path segment of a glob as a regex: `*`, `?`, `[…]` (with `!` or `^` negation), `\x` literal. */
function segmentRegex(segment: string): RegExp {
  let re = segment.startsWith('.') ? '' : '(?!\\.)';
  for (let i = 0; i < segment.length; i++) {
    const c = segment[i] ?? '';
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '\\' && i + 1 < segment.length) re += escape(segment[++i] ?? '');
    else if (c === '[') {
      const end = segment.indexOf(']', i + 2);
      if (end < 0) { re += '\\['; continue; }
      let body = segment.slice(i + 1, end);
      const negate = body.startsWith('!') || body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\\\]^]/g, '\\$&')}]`;
      i = end;
    } else re += escape(c);
  }
  return new RegExp(`^${re}$`);
}

function escape(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}
