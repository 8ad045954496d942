import type { Directive } from './parse.js';
import type { Ctx } from './context.js';
import { toTemplate, type Captures, NO_CAPTURES } from './placeholders.js';

export type Action = Record<string, unknown>;

const REDIRECTS = new Set(['301', '302', '303', '307', '308']);

/** `return CODE [TEXT|URL]` / `return URL` → `redirect` or `respond` (README "nginx directives and their keys"). */
export function returnAction(d: Directive, ctx: Ctx, captures: Captures = NO_CAPTURES, defaultType?: string): Action | undefined {
  ctx.consumed.add(d);
  const [first = '', text] = d.args;
  const urlOnly = !/^\d{3}$/.test(first);
  const code = urlOnly ? '302' : first;
  const value = urlOnly ? first : text;
  if (code === '444') { ctx.unsupported(d, '444 closes the connection without an answer; Gatehouse always answers'); return undefined; }
  const t = value === undefined ? undefined : toTemplate(value, captures, ctx.literals);
  if (t !== undefined && !t.ok) { ctx.unsupported(d, t.why); return undefined; }
  if (REDIRECTS.has(code) && t !== undefined) return { redirect: { to: t.text, status: Number(code) } };
  const respond: Record<string, unknown> = {};
  if (code !== '200') respond.status = Number(code);
  if (t !== undefined) {
    respond.body = t.text;
    if (defaultType !== undefined && !/^text\/plain\b/.test(defaultType)) respond.headers = { 'Content-Type': defaultType };
  }
  return { respond };
}

/** An `if (…)` condition: variable, operator, value (nginx strips one pair of parentheses and quotes). */
export interface Condition {
  readonly variable: string;
  readonly op: '=' | '!=' | '~' | '~*' | '!~' | '!~*' | undefined;
  readonly value: string;
}

export function condition(d: Directive): Condition | undefined {
  const args = [...d.args];
  if (args.length === 0) return undefined;
  args[0] = (args[0] ?? '').replace(/^\(/, '');
  args[args.length - 1] = (args[args.length - 1] ?? '').replace(/\)$/, '');
  const words = args.filter((a, i) => !(a === '' && (i === 0 || i === args.length - 1)));
  const [variable = '', op, ...rest] = words;
  if (op === undefined) return { variable, op: undefined, value: '' };
  if (!['=', '!=', '~', '~*', '!~', '!~*'].includes(op)) return undefined;
  return { variable, op: op as Condition['op'], value: rest.join(' ').replace(/^(["'])(.*)\1$/, '$2') };
}

/** Whether a `return` (or `rewrite … permanent`) sends the client to the same URL over https: the redirect idiom. */
export function isHttpsRedirect(d: Directive, names: readonly string[]): boolean {
  const to = d.name === 'return' ? d.args[d.args.length - 1] : d.name === 'rewrite' ? d.args[1] : undefined;
  if (to === undefined) return false;
  const code = d.name === 'return' ? (d.args.length === 2 ? d.args[0] : '302') : d.args[2] === 'permanent' ? '301' : '302';
  if (code === undefined || !REDIRECTS.has(code)) return false;
  const m = /^https:\/\/([^/$]+|\$host|\$server_name|\$http_host)(\$request_uri\??|\$uri(\$is_args\$args)?|\/\$1)?$/.exec(to);
  if (m === null) return false;
  const host = m[1] ?? '';
  return host.startsWith('$') || names.includes(host.toLowerCase());
}
