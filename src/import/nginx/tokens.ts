import { ImportError } from './import-error.js';

/** One token of nginx's configuration grammar (ngx_conf_file.c `ngx_conf_read_token`). */
export interface Token {
  readonly kind: 'word' | ';' | '{' | '}';
  readonly text: string;
  readonly line: number;
  readonly col: number;
}

const SPACE = new Set([' ', '\t', '\r', '\n']);

/**
 * Split nginx configuration text into tokens exactly where nginx does: `#` starts a comment only
 * at the start of a token, `}` does not end an unquoted word (`ok}` is one word to nginx too),
 * `${` does not open a block, a quote only opens at the start of a token, and after a closing
 * quote only space, `;`, `{` or `)` may follow.
 */
export function tokenize(text: string, file: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  let line = 1;
  let col = 1;
  const advance = (): string => {
    const ch = text[i++] ?? '';
    if (ch === '\n') { line++; col = 1; } else col++;
    return ch;
  };
  while (i < text.length) {
    const ch = text[i] ?? '';
    if (SPACE.has(ch)) { advance(); continue; }
    const at = { line, col };
    if (ch === '#') {
      while (i < text.length && text[i] !== '\n') advance();
      continue;
    }
    if (ch === ';' || ch === '{' || ch === '}') {
      advance();
      out.push({ kind: ch, text: ch, ...at });
      continue;
    }
    if (ch === '"' || ch === "'") {
      advance();
      let raw = '';
      for (;;) {
        if (i >= text.length) throw new ImportError(file, at.line, at.col, `unexpected end of file, expecting ${ch}`);
        const c = advance();
        if (c === '\\' && i < text.length) { raw += c + advance(); continue; }
        if (c === ch) break;
        raw += c;
      }
      out.push({ kind: 'word', text: unescape(raw), ...at });
      const next = text[i];
      if (next !== undefined && !SPACE.has(next) && next !== ';' && next !== '{' && next !== ')') {
        throw new ImportError(file, line, col, `unexpected "${next}"`);
      }
      continue;
    }
    let raw = '';
    while (i < text.length) {
      const c = text[i] ?? '';
      if (SPACE.has(c) || c === ';') break;
      if (c === '{' && !raw.endsWith('$')) break;
      if (c === '\\') {
        raw += advance();
        if (i < text.length) raw += advance();
        continue;
      }
      raw += advance();
    }
    out.push({ kind: 'word', text: unescape(raw), ...at });
  }
  return out;
}

/** nginx's escapes, the same inside and outside quotes: `\"` `\'` `\\` drop the backslash, `\t` `\r` `\n` are controls, any other `\x` stays as written (so regexes keep `\d`). */
function unescape(raw: string): string {
  if (!raw.includes('\\')) return raw;
  let out = '';
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i] ?? '';
    const n = raw[i + 1];
    if (c !== '\\' || n === undefined) { out += c; continue; }
    if (n === '"' || n === "'" || n === '\\') { out += n; i++; }
    else if (n === 't') { out += '\t'; i++; }
    else if (n === 'r') { out += '\r'; i++; }
    else if (n === 'n') { out += '\n'; i++; }
    else out += c;
  }
  return out;
}
