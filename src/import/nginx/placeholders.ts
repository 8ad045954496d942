/**
 * nginx variables → Gatehouse placeholders (README "Placeholders"). Only variables whose value
 * Gatehouse has are translated; any other makes the whole value untranslatable, and the caller
 * says so in the report rather than guessing.
 */

/** What the route's regex offers as captures (`$1` … `$9`, `$name`). */
export interface Captures {
  readonly count: number;
  readonly names: ReadonlySet<string>;
}

export const NO_CAPTURES: Captures = { count: 0, names: new Set() };

const SIMPLE: Readonly<Record<string, string>> = {
  host: '{host}',
  request_uri: '{uri}',
  uri: '{path}',
  document_uri: '{path}',
  args: '{query}',
  query_string: '{query}',
  scheme: '{scheme}',
  remote_addr: '{remote_addr}',
  binary_remote_addr: '{remote_addr}',
  server_port: '{port}',
  request_id: '{request_id}',
};

export type Translated = { readonly ok: true; readonly text: string } | { readonly ok: false; readonly why: string };

/**
 * Rewrite `text` from nginx's variable syntax to a Gatehouse template: `$host` → `{host}`,
 * `$http_x_api_key` → `{header.x-api-key}`, `$1` → `{re.1}`; literal braces doubled.
 * `literals` are variables known at load (`$server_name`, a `set $v value;` with no variable in it);
 * `placeholders` map a variable straight to a placeholder (`$1` → `{rest}` when it captures a prefix's rest).
 */
export function toTemplate(text: string, captures: Captures = NO_CAPTURES, literals: ReadonlyMap<string, string> = new Map(), placeholders: ReadonlyMap<string, string> = new Map()): Translated {
  // `$uri$is_args$args` is how nginx spells "the request URI, normalised": Gatehouse's {uri}.
  const source = text.replace(/\$(?:\{uri\}|uri)\$(?:\{is_args\}|is_args)\$(?:\{args\}|args)/g, '$request_uri');
  let out = '';
  for (let i = 0; i < source.length; i++) {
    const c = source[i] ?? '';
    if (c === '{' || c === '}') { out += c + c; continue; }
    if (c !== '$') { out += c; continue; }
    const m = /^\$(?:\{([A-Za-z0-9_]+)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9]))/.exec(source.slice(i));
    if (m === null) { out += c; continue; }
    const name = m[1] ?? m[2] ?? '';
    const part = placeholders.get(name) ?? variable(name, captures, literals);
    if (part === undefined) return { ok: false, why: `$${name} has no Gatehouse placeholder` };
    out += part;
    i += m[0].length - 1;
  }
  return { ok: true, text: out };
}

function variable(name: string, captures: Captures, literals: ReadonlyMap<string, string>): string | undefined {
  const literal = literals.get(name);
  if (literal !== undefined) return literal.replace(/[{}]/g, '$&$&');
  const simple = SIMPLE[name];
  if (simple !== undefined) return simple;
  if (/^[0-9]$/.test(name)) return Number(name) <= captures.count && name !== '0' ? `{re.${name}}` : undefined;
  if (captures.names.has(name)) return `{re.${name}}`;
  if (name.startsWith('http_')) return `{header.${name.slice(5).replace(/_/g, '-')}}`;
  return undefined;
}

/** How many capture groups a regex has and what the named ones are called (PCRE `(?P<n>` too). */
export function capturesOf(regex: string): Captures {
  let count = 0;
  const names = new Set<string>();
  for (let i = 0; i < regex.length; i++) {
    const c = regex[i];
    if (c === '\\') { i++; continue; }
    if (c === '[') {
      const close = regex.indexOf(']', i + 2);
      if (close > 0) i = close;
      continue;
    }
    if (c !== '(') continue;
    const rest = regex.slice(i + 1);
    const named = /^\?P?<([A-Za-z_][A-Za-z0-9_]*)>/.exec(rest);
    if (named !== null) { count++; names.add(named[1] ?? ''); continue; }
    if (!rest.startsWith('?')) count++;
  }
  return { count, names };
}

/** A PCRE regex as a JavaScript one (`(?P<n>` → `(?<n>`), or why it cannot be one that Gatehouse runs. */
export function jsRegex(pcre: string): Translated {
  const js = pcre.replace(/\(\?P</g, '(?<');
  if (/\(\?<?[=!]/.test(js)) return { ok: false, why: 'lookarounds cannot run on the linear-time regex engine Gatehouse falls back to' };
  if (/\\[1-9]|\\k</.test(js)) return { ok: false, why: 'backreferences cannot run on the linear-time regex engine Gatehouse falls back to' };
  try {
    new RegExp(js);
  } catch {
    return { ok: false, why: 'PCRE syntax JavaScript does not read' };
  }
  return { ok: true, text: js };
}
