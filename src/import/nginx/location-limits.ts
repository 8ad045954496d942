import type { Directive } from './parse.js';
import { levelOf, nearest, nearestOne, type Scope } from './scope.js';
import { ms, type Ctx } from './context.js';
import type { HeaderOpsOut } from './headers.js';
import { duration, nginxSize } from './values.js';

/** `expires 30d` → `Cache-Control: max-age=…` on success answers, as nginx adds it. */
export function expires(d: Directive, ctx: Ctx): HeaderOpsOut[] {
  ctx.consumed.add(d);
  const value = d.args[0] ?? '';
  if (value === 'off') return [];
  const seconds = value === 'max' ? 315_360_000 : value === 'epoch' ? -1 : (ms({ ...d, args: [value] }) ?? NaN) / 1000;
  if (!Number.isFinite(seconds)) { ctx.unsupported(d, 'an expires form other than a time, max, epoch or off'); return []; }
  ctx.report.difference(d, 'sends Cache-Control only, no Expires header');
  return [{ set: { 'Cache-Control': seconds < 0 ? 'no-cache' : `max-age=${seconds}` }, statuses: 'success' }];
}

/**
 * client_max_body_size and proxy_*_timeout set in this server or location (http-level ones are
 * global); send_timeout and client_body_timeout in the location itself (the server's are the
 * edge's: translate.ts).
 */
export function routeLimits(loc: Scope, route: Record<string, unknown>, ctx: Ctx): void {
  const { consumed } = ctx;
  const local = (name: string): Directive | undefined => {
    const level = levelOf(loc, name);
    if (level === undefined || level.kind === 'http' || level.kind === 'main') return undefined;
    for (const d of nearest(loc, name)) consumed.add(d);
    return nearestOne(loc, name);
  };
  const body = local('client_max_body_size');
  const size = body === undefined ? undefined : nginxSize(body.args[0] ?? '');
  if (size !== undefined) route.limits = { bodySize: size };
  const timeouts: Record<string, unknown> = {};
  const read = Math.max(ms(local('proxy_read_timeout')) ?? 0, ms(local('proxy_send_timeout')) ?? 0);
  if (read > 0) timeouts.response = duration(read);
  const connect = ms(local('proxy_connect_timeout'));
  if (connect !== undefined) timeouts.connect = duration(connect);
  const idle = clientPauses(loc, ctx);
  if (idle !== undefined) timeouts.idle = idle;
  if (Object.keys(timeouts).length > 0) route.timeouts = timeouts;
}

/**
 * A location's send_timeout (a client that stops reading) and client_body_timeout (one that
 * pauses its body) → the route's `timeouts.idle`, which bounds both: the longer of the two, with
 * a difference when they are not the same.
 */
function clientPauses(loc: Scope, ctx: Ctx): string | undefined {
  const found = ['send_timeout', 'client_body_timeout'].flatMap((name) => (levelOf(loc, name)?.kind === 'location' ? [nearestOne(loc, name)] : []))
    .filter((d): d is Directive => d !== undefined);
  for (const d of found) ctx.consumed.add(d);
  const values = found.map((d) => ms(d));
  const longest = Math.max(...values.map((v) => v ?? 0));
  if (found.length === 0 || !(longest > 0)) return undefined;
  const first = found[0] as Directive;
  if (found.length === 1 || values[0] !== values[1]) {
    ctx.report.difference(first, `timeouts.idle ${duration(longest)} bounds both a client that stops reading (nginx send_timeout) and one that pauses its request body (client_body_timeout)`);
  }
  return duration(longest);
}
