import type { Directive } from './parse.js';
import type { Scope } from './scope.js';
import { EVERYTHING, formatNet, parseNet, subtractAll, type Net } from './cidr.js';
import type { Ctx } from './content-util.js';

/** allow/deny form one list in nginx: the innermost level that has any of them replaces the rest. */
function accessRules(scope: Scope): Directive[] {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const rules = s.directives.filter((d) => d.name === 'allow' || d.name === 'deny');
    if (rules.length > 0) return rules;
  }
  return [];
}

/**
 * nginx's first-match allow/deny list → Gatehouse's `deny` (wins) and `allow` (non-empty: only
 * these). Exact for every list: a `deny` after an `allow` loses the addresses that allow already
 * admitted (nginx decided them first), so it is written without them; a final `deny all` makes
 * the allows a whitelist; rules after an `all` are never reached, in nginx either.
 */
export function accessLists(ctx: Ctx, rules: readonly Directive[]): { allow: string[]; deny: string[] } | undefined {
  const { report, consumed } = ctx;
  const allows: Net[] = [];
  const denies: Net[] = [];
  let closedBy: 'allow' | 'deny' | undefined;
  for (const d of rules) {
    consumed.add(d);
    if (closedBy !== undefined) continue;
    const arg = d.args[0] ?? '';
    if (arg.startsWith('unix:')) continue; // Gatehouse has no Unix-socket listeners: no such clients.
    const nets = arg === 'all' ? [...EVERYTHING] : [parseNet(arg)].filter((n): n is Net => n !== undefined);
    if (nets.length === 0) {
      report.unsupported(d, `"${arg}" is not an address or CIDR block`);
      return undefined;
    }
    if (d.name === 'allow') {
      if (arg === 'all') closedBy = 'allow';
      else allows.push(...nets);
    } else if (arg === 'all') {
      closedBy = 'deny';
    } else {
      denies.push(...subtractAll(nets, allows));
    }
  }
  const everything = EVERYTHING.map(formatNet);
  const deny = denies.map(formatNet);
  if (closedBy === 'deny') {
    // With a final `deny all` the allows are the whitelist (the denies before them still win).
    return allows.length === 0 ? { allow: [], deny: everything } : { allow: allows.map(formatNet), deny };
  }
  return { allow: [], deny };
}

/** allow/deny → the route's `access` (README "Access control"); the core translator adds limit_except's methods. */
export function translateAccess(ctx: Ctx, route: Record<string, unknown>): void {
  const access: Record<string, unknown> = {};
  const lists = accessLists(ctx, accessRules(ctx.scope));
  if (lists !== undefined && lists.allow.length > 0) access.allow = lists.allow;
  if (lists !== undefined && lists.deny.length > 0) access.deny = lists.deny;
  if (Object.keys(access).length > 0) route.access = access;
}

/** `satisfy any` lets either access or auth admit a request; Gatehouse requires both. */
export function checkSatisfy(ctx: Ctx, route: Record<string, unknown>): void {
  for (let s: Scope | undefined = ctx.scope; s !== undefined; s = s.parent) {
    const d = s.directives.filter((x) => x.name === 'satisfy').at(-1);
    if (d === undefined) continue;
    ctx.consumed.add(d);
    if (d.args[0] === 'any' && route.access !== undefined && route.auth !== undefined) {
      ctx.report.unsupported(d, 'Gatehouse requires both the address rules and the login (satisfy all); nginx admits either');
    }
    return;
  }
}
