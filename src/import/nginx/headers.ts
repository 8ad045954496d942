import type { Directive } from './parse.js';
import { toTemplate, type Captures, NO_CAPTURES } from './placeholders.js';
import type { Ctx } from './context.js';

/** `headers.request` / one `headers.response` block, as plain data. */
export interface HeaderOpsOut {
  set?: Record<string, string>;
  add?: Record<string, string[]>;
  remove?: string[];
  statuses?: 'success';
}

export interface HeadersOut {
  request?: HeaderOpsOut;
  response?: HeaderOpsOut | HeaderOpsOut[];
}

/** What Gatehouse writes itself on every proxied request (README "What it does, and why": Forwarding), with the values nginx configs use for the same. */
const FORWARDED: Readonly<Record<string, readonly string[]>> = {
  'x-real-ip': ['$remote_addr'],
  'x-forwarded-for': ['$proxy_add_x_forwarded_for', '$remote_addr'],
  'x-forwarded-proto': ['$scheme', 'https'],
  'x-forwarded-host': ['$host', '$http_host', '$server_name', '$host:$server_port'],
};

// Gatehouse frames every message itself (RFC 9112 §6); `proxy_set_header Content-Length "";` is an auth_request idiom.
const FRAMING = new Set(['content-length', 'transfer-encoding', 'te', 'keep-alive', 'proxy-connection', 'trailer']);

/**
 * `proxy_set_header` lines → `headers.request`, dropping what Gatehouse already sends: Host as
 * the client sent it ($http_host; $host becomes `Host: "{host}"`), the forwarded headers, and the WebSocket `Upgrade`/`Connection` pair
 * (upgrades pass on every route). An empty value removes the header, as in nginx.
 */
export function requestHeaders(ds: readonly Directive[], ctx: Ctx, captures: Captures = NO_CAPTURES): HeaderOpsOut | undefined {
  const out: HeaderOpsOut = {};
  for (const d of ds) {
    ctx.consumed.add(d);
    const [name = '', value = ''] = d.args;
    const lower = name.toLowerCase();
    // $http_host is the Host as the client wrote it: what Gatehouse sends anyway. $host is that
    // name lower-cased and without its port (nginx's variable), so it is written out.
    if (lower === 'host' && value === '$http_host') continue;
    if (lower === 'host' && value === '$host') { (out.set ??= {}).Host = '{host}'; continue; }
    const forwarded = FORWARDED[lower];
    if (forwarded !== undefined) {
      if (!forwarded.includes(value)) ctx.report.difference(d, `Gatehouse sets ${name} itself, not to ${value}`);
      continue;
    }
    if (lower === 'upgrade' || lower === 'connection' || FRAMING.has(lower)) continue;
    if (value === '') { (out.remove ??= []).push(name); continue; }
    const t = toTemplate(value, captures, ctx.literals);
    if (!t.ok) { ctx.unsupported(d, t.why); continue; }
    (out.set ??= {})[name] = t.text;
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * `add_header` (and `proxy_hide_header`) lines of one level → response blocks: `always` ones apply
 * to every answer, the others only to nginx's success statuses. `Strict-Transport-Security` goes
 * to the edge-wide `hsts` key instead (Gatehouse owns that header).
 */
export function responseHeaders(adds: readonly Directive[], hides: readonly Directive[], ctx: Ctx, captures: Captures = NO_CAPTURES): HeaderOpsOut[] {
  const always: HeaderOpsOut = {};
  const success: HeaderOpsOut = { statuses: 'success' };
  for (const d of adds) {
    ctx.consumed.add(d);
    const [name = '', value = '', flag] = d.args;
    if (name.toLowerCase() === 'strict-transport-security') { ctx.hsts(d, value, flag === 'always'); continue; }
    const t = toTemplate(value, captures, ctx.literals);
    if (!t.ok) { ctx.unsupported(d, t.why); continue; }
    const block = flag === 'always' ? always : success;
    const same = adds.filter((a) => (a.args[0] ?? '').toLowerCase() === name.toLowerCase() && (a.args[2] === 'always') === (flag === 'always'));
    if (same.length > 1) ((block.add ??= {})[name] ??= []).push(t.text);
    else (block.set ??= {})[name] = t.text;
  }
  for (const d of hides) {
    ctx.consumed.add(d);
    const name = d.args[0] ?? '';
    if (name.toLowerCase() === 'strict-transport-security') continue;
    (always.remove ??= []).push(name);
  }
  return [always, success].filter((b) => b.set !== undefined || b.add !== undefined || b.remove !== undefined);
}

/** Response blocks in Gatehouse's shape: one block as a map, several as a list. */
export function responseValue(blocks: readonly HeaderOpsOut[]): HeaderOpsOut | HeaderOpsOut[] | undefined {
  if (blocks.length === 0) return undefined;
  return blocks.length === 1 ? blocks[0] : [...blocks];
}

/** The names a set of `add_header` lines sends (lower-case), for the inheritance report. */
export function headerNames(ds: readonly Directive[]): string[] {
  return [...new Set(ds.map((d) => d.args[0] ?? '').filter((n) => n.toLowerCase() !== 'strict-transport-security'))];
}
