/**
 * Placeholders (README "Placeholders"), parsed once at load into a frozen list of parts: a string is a
 * literal, an object names what a request supplies. The pipeline only walks the list
 * (pipeline/expand.ts); nothing is parsed per request.
 */
export type Variable = 'scheme' | 'host' | 'port' | 'uri' | 'path' | 'query' | 'rest' | 'remote_addr' | 'request_id';

export type TemplatePart =
  | string
  | { readonly kind: 'var'; readonly name: Variable }
  /** `{header.NAME}`: the client's request header, lower-cased name; empty when absent. */
  | { readonly kind: 'header'; readonly name: string }
  /** `{re.N}` / `{re.NAME}`: a capture of the route's regex. */
  | { readonly kind: 're'; readonly group: number | string };

export type Template = readonly TemplatePart[];

const VARIABLES: ReadonlySet<string> = new Set<Variable>(['scheme', 'host', 'port', 'uri', 'path', 'query', 'rest', 'remote_addr', 'request_id']);
const TOKEN = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2 field-name
const GROUP_NAME = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `text` as parts, or the reason it is not a template (the caller adds FILE:LINE:COL). */
export function parseTemplate(text: string): Template | string {
  const parts: TemplatePart[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '}') {
      if (text[i + 1] !== '}') return 'a lone "}" (write "}}" for a literal brace)';
      literal += '}';
      i++;
      continue;
    }
    if (c !== '{') {
      literal += c;
      continue;
    }
    if (text[i + 1] === '{') {
      literal += '{';
      i++;
      continue;
    }
    const end = text.indexOf('}', i);
    if (end === -1) return 'an unclosed "{" (write "{{" for a literal brace)';
    const name = text.slice(i + 1, end);
    const part = placeholder(name);
    if (typeof part === 'string') return part;
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push(part);
    i = end;
  }
  if (literal !== '') parts.push(literal);
  return parts;
}

function placeholder(name: string): Exclude<TemplatePart, string> | string {
  if (VARIABLES.has(name)) return { kind: 'var', name: name as Variable };
  if (name.startsWith('header.')) {
    const header = name.slice(7);
    return TOKEN.test(header) ? { kind: 'header', name: header.toLowerCase() } : `"{${name}}": a header name is a token such as header.User-Agent`;
  }
  if (name.startsWith('re.')) {
    const group = name.slice(3);
    if (/^\d{1,2}$/.test(group)) return { kind: 're', group: Number(group) };
    return GROUP_NAME.test(group) ? { kind: 're', group } : `"{${name}}": a capture is {re.1} or {re.NAME}`;
  }
  return `unknown placeholder "{${name}}" (known: ${[...VARIABLES].map((v) => `{${v}}`).join(' ')} {header.NAME} {re.N} {re.NAME}; "{{" and "}}" are literal braces)`;
}

/** Whether any part of the templates names something (so the route needs a request context at all). */
export function usesVariable(templates: readonly Template[], test: (part: Exclude<TemplatePart, string>) => boolean): boolean {
  return templates.some((t) => t.some((p) => typeof p !== 'string' && test(p)));
}

/** A URL that writes its own scheme and authority (`https://…`, `{scheme}://…`): it may name any host. */
const ABSOLUTE_URL = /^([a-z][a-z0-9+.-]*:|\{scheme\}:)\/\//i;

/**
 * Where a redirect may send a client (`redirect.to`, `auth.forward.signIn`): an absolute URL, or a
 * path on this host that no placeholder can turn into another host. `absolute`, or the reason
 * (the caller adds FILE:LINE:COL).
 */
export function urlTarget(text: string): { readonly absolute: boolean } | string {
  if (ABSOLUTE_URL.test(text)) return { absolute: true };
  if (!text.startsWith('/')) return 'expected an absolute URL (https://host/…) or a path on this host (/…)';
  if (/^\/[/\\]/.test(text)) return '"//host" leaves this host: write the scheme, as in https://host/…';
  return { absolute: false };
}
