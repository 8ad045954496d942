import { isAbsolute } from 'node:path';
import type { Directive } from './parse.js';
import type { ImportReport } from './report.js';
import { childScope, type Scope } from './scope.js';

/** ImportReport's verdicts, as the content translators give them. */
export interface Reporter {
  difference(d: Directive, why: string): void;
  unsupported(d: Directive, why: string): void;
  meaningless(d: Directive, why?: string): void;
}

/** What every content translator works on: the scope, where it reports, what it has carried over. */
export interface Ctx {
  readonly scope: Scope;
  readonly report: Reporter;
  readonly consumed: Set<Directive>;
}

/**
 * `report` that also counts every directive it gives a verdict on as consumed, so the core's
 * sweep for untranslated directives does not list it a second time. `location` lines stay out:
 * the core makes a route of every location it finds unconsumed.
 */
export function reporting(report: ImportReport, consumed: Set<Directive>): Reporter {
  const said = (d: Directive): void => {
    if (d.name !== 'location') consumed.add(d);
  };
  return {
    difference: (d, why) => { report.difference(d, why); said(d); },
    unsupported: (d, why) => { report.unsupported(d, why); said(d); },
    meaningless: (d, why) => { report.meaningless(d, why); said(d); },
  };
}

/** The `name` directives written in this scope itself (not inherited). */
export function own(scope: Scope, name: string): Directive[] {
  return scope.directives.filter((d) => d.name === name);
}

/** The outermost scope (main, or the fragment's top level for a sites-enabled file). */
export function rootOf(scope: Scope): Scope {
  let s = scope;
  while (s.parent !== undefined) s = s.parent;
  return s;
}

/** The enclosing `server` scope, if any. */
export function serverOf(scope: Scope): Scope | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) if (s.kind === 'server') return s;
  return undefined;
}

/** Every scope under `top` (itself first), in file order, with the nginx block kinds as scope kinds. */
export function allScopes(top: Scope): Scope[] {
  const out: Scope[] = [top];
  for (const d of top.directives) if (d.block !== undefined) out.push(...allScopes(childScope(top, d)));
  return out;
}

/** nginx `on`/`off` flags; undefined for anything else. */
export function flag(d: Directive | undefined): boolean | undefined {
  const v = d?.args[0]?.toLowerCase();
  return v === 'on' ? true : v === 'off' ? false : undefined;
}

const TIME_UNITS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000, M: 2_592_000_000, y: 31_536_000_000 };

/**
 * nginx time ("10m", "1h30m", "500ms", a bare number of seconds) → a Gatehouse duration. nginx's
 * `y` is 365 days as Gatehouse's; `w` and `M` (30 days) become seconds. undefined: not a time.
 */
export function duration(text: string): string | undefined {
  if (/^\d+$/.test(text)) return `${text}s`;
  if (/^\d+(ms|s|m|h|d|y)$/.test(text)) return text;
  let ms = 0;
  const re = /(\d+)(ms|s|m|h|d|w|M|y)/gy;
  let at = 0;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) {
    ms += Number(m[1]) * (TIME_UNITS[m[2] as string] as number);
    at = re.lastIndex;
  }
  if (at !== text.length || at === 0) return undefined;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/** nginx size ("10m", "512K", "1g", bytes) → the same size in Gatehouse's form, or undefined. */
export function size(text: string): string | undefined {
  const m = /^(\d+)([kKmMgG]?)$/.exec(text);
  if (m === null) return undefined;
  return m[2] === '' ? m[1] : `${m[1]}${(m[2] as string).toLowerCase()}`;
}

/** The placeholder Gatehouse has for an nginx variable (README "Placeholders"), when it has one. */
export function placeholderFor(variable: string): string | undefined {
  const name = variable.toLowerCase();
  const fixed: Readonly<Record<string, string>> = {
    scheme: '{scheme}', host: '{host}', server_port: '{port}', request_uri: '{uri}', uri: '{path}',
    document_uri: '{path}', args: '{query}', query_string: '{query}', remote_addr: '{remote_addr}',
    binary_remote_addr: '{remote_addr}', request_id: '{request_id}',
  };
  if (fixed[name] !== undefined) return fixed[name];
  if (name.startsWith('http_')) return `{header.${name.slice(5).replace(/_/g, '-')}}`;
  return undefined;
}

/** nginx text with `$var`/`${var}` → a Gatehouse template; `unknown` lists what has no placeholder. */
export function template(text: string): { text: string; unknown: string[] } {
  const unknown: string[] = [];
  const out = text.replace(/\$\{(\w+)\}|\$(\w+)|([{}])/g, (whole, braced?: string, bare?: string, brace?: string) => {
    if (brace !== undefined) return brace + brace;
    const name = braced ?? bare ?? '';
    const p = placeholderFor(name);
    if (p === undefined) unknown.push(`$${name}`);
    return p ?? whole;
  });
  return { text: out, unknown };
}

/** Whether nginx text uses a variable. */
export function hasVariable(text: string): boolean {
  return /\$(\{\w+\}|\w)/.test(text);
}

/** A path nginx resolves against its own prefix; Gatehouse reads it next to the YAML file. */
export function relativeNote(ctx: Ctx, d: Directive, path: string): void {
  if (!isAbsolute(path)) ctx.report.difference(d, `"${path}" is relative to nginx's prefix; Gatehouse reads it relative to the YAML file: write the absolute path`);
}

