import type { HeaderEntry, HeaderOps, HeaderRules, ResponseHeaderBlock } from './types.js';
import { parseTemplate, type Template } from './template.js';
import { anyOf, integer, keysOf, list, map, object, oneOf, scalar, string } from './shape.js';
import type { Path, Reader } from './values.js';

const TOKEN = /^[!#$%&'*+.^`|~0-9A-Za-z-]+$/; // RFC 9110 §5.6.2
const CONTROL = /[\r\n\0]/;

/** Names Gatehouse writes itself: a rule for one would fight the edge's own policy (README "Header rules"). */
const OWNED: Readonly<Record<string, string>> = {
  'strict-transport-security': 'is set by Gatehouse on every answer: configure it under hsts',
  connection: 'is hop-by-hop (RFC 9110 §7.6.1): it describes one connection, not the message',
  'keep-alive': 'is hop-by-hop (RFC 9110 §7.6.1)',
  'proxy-connection': 'is hop-by-hop (RFC 9110 §7.6.1)',
  'proxy-authenticate': 'is hop-by-hop (RFC 9110 §7.6.1)',
  'proxy-authorization': 'is hop-by-hop (RFC 9110 §7.6.1)',
  te: 'is hop-by-hop (RFC 9110 §7.6.1)',
  trailer: 'is hop-by-hop (RFC 9110 §7.6.1)',
  upgrade: 'is hop-by-hop (RFC 9110 §7.6.1); WebSocket upgrades are handled by the edge',
  'http2-settings': 'is hop-by-hop (RFC 9113 §3.2.1)',
  'transfer-encoding': 'is message framing (RFC 9112 §6): the edge frames each message itself',
  'content-length': 'is message framing (RFC 9112 §6): the edge frames each message itself',
};

/** On requests only: what the upstream learns about the client comes from the edge (README "What it does, and why": Forwarding), never a rule. */
const OWNED_REQUEST: Readonly<Record<string, string>> = {
  'x-forwarded-for': 'is set by Gatehouse from the client address and trustedProxies',
  'x-real-ip': 'is set by Gatehouse from the client address and trustedProxies',
  'x-forwarded-proto': 'is set by Gatehouse from the listener the request came in on',
  'x-forwarded-host': 'is set by Gatehouse from the Host the client sent',
};

/** nginx's add_header list without `always` (README "Header rules"). */
const SUCCESS = [200, 201, 204, 206, 301, 302, 303, 304, 307, 308];

/** A header value: text, or a number or boolean YAML wrote for it (readValue turns it into text). */
export const HEADER_VALUE = scalar();
const OPS = { set: map(HEADER_VALUE), add: map(anyOf([HEADER_VALUE, list(HEADER_VALUE)])), remove: list(string()) };
const REQUEST_OPS = object(OPS);
const RESPONSE_OPS = object({ ...OPS, statuses: anyOf([oneOf(['success', 'always'] as const), list(integer(100, 599))]) });
/** `headers:` of a site or route. */
export const HEADERS = object({ request: REQUEST_OPS, response: anyOf([RESPONSE_OPS, list(RESPONSE_OPS)]) });

/** `headers: { request, response }` of a site or route; null when absent. */
export function readHeaderRules(r: Reader, raw: unknown, path: Path): HeaderRules | null {
  if (raw === undefined || raw === null) return null;
  const o = r.object(raw, path, keysOf(HEADERS)) ?? {};
  const request = o.request === undefined ? null : readOps(r, o.request, [...path, 'request'], 'request', REQUEST_OPS);
  const blocks = Array.isArray(o.response) ? o.response : o.response === undefined ? [] : [o.response];
  const response = blocks.map((b, i) => {
    const bp = Array.isArray(o.response) ? [...path, 'response', i] : [...path, 'response'];
    const ops = readOps(r, b, bp, 'response', RESPONSE_OPS);
    return { ...ops, statuses: readStatuses(r, (b as Record<string, unknown> | null)?.statuses, [...bp, 'statuses']) };
  });
  return { request, response };
}

function readStatuses(r: Reader, raw: unknown, path: Path): readonly number[] | null {
  if (raw === undefined || raw === null || raw === 'always') return null;
  if (raw === 'success') return SUCCESS;
  const list = Array.isArray(raw) ? raw : r.error(path, 'expected "success", "always" or a list of statuses such as [200, 404]');
  return (list ?? []).map((s, i) => r.integer(s, [...path, i], 100, 599)).filter((s): s is number => s !== undefined);
}

function readOps(r: Reader, raw: unknown, path: Path, side: 'request' | 'response', shape: typeof REQUEST_OPS | typeof RESPONSE_OPS): HeaderOps {
  const o = r.object(raw, path, keysOf(shape)) ?? {};
  const set = readEntries(r, o.set, [...path, 'set'], side, 'set');
  const add = readEntries(r, o.add, [...path, 'add'], side, 'add');
  const remove = (r.list(o.remove, [...path, 'remove']) ?? []).map((n, i) => {
    const name = checkName(r, n, [...path, 'remove', i], side, 'remove');
    return name;
  }).filter((n): n is string => n !== undefined);
  return { set, add, remove };
}

function readEntries(r: Reader, raw: unknown, path: Path, side: 'request' | 'response', op: 'set' | 'add'): HeaderEntry[] {
  if (raw === undefined || raw === null) return [];
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    r.error(path, `expected a mapping of header name → value, e.g. ${op}: { X-Frame-Options: SAMEORIGIN }`);
    return [];
  }
  const out: HeaderEntry[] = [];
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    const name = checkName(r, key, [...path, key], side, op);
    const values = op === 'add' && Array.isArray(value) ? value : [value];
    for (const v of values) {
      const template = readValue(r, v, [...path, key]);
      if (name !== undefined && template !== undefined) out.push({ name, value: template });
    }
  }
  return out;
}

/** A header value: a template whose literal text can carry no CR, LF or NUL. */
export function readValue(r: Reader, raw: unknown, path: Path): Template | undefined {
  const text = typeof raw === 'number' || typeof raw === 'boolean' ? String(raw) : typeof raw === 'string' ? raw : undefined;
  if (text === undefined) return r.error(path, 'expected a header value (a string)');
  if (CONTROL.test(text)) return r.error(path, 'a header value cannot contain CR, LF or NUL');
  const template = parseTemplate(text);
  return typeof template === 'string' ? r.error(path, template) : template;
}

function checkName(r: Reader, raw: unknown, path: Path, side: 'request' | 'response', op: string): string | undefined {
  if (typeof raw !== 'string' || !TOKEN.test(raw)) return r.error(path, 'expected a header name (letters, digits and -)', 'key');
  const name = raw.toLowerCase();
  const owned = OWNED[name] ?? (side === 'request' ? OWNED_REQUEST[name] : undefined);
  if (owned !== undefined) return r.error(path, `${raw} cannot be ${op === 'remove' ? 'removed' : 'set'} here: it ${owned}`, 'key');
  if (name === 'host' && (side !== 'request' || op !== 'set')) return r.error(path, 'Host can only be set (headers.request.set), for the upstream', 'key');
  return name;
}

/** Site rules, then the route's; every name the route mentions drops the site's rules for it. */
export function mergeRules(site: HeaderRules | null, route: HeaderRules | null): HeaderRules | null {
  if (route === null) return site;
  if (site === null) return route;
  const named = new Set<string>();
  const note = (ops: HeaderOps): void => {
    for (const e of ops.set) named.add(e.name);
    for (const e of ops.add) named.add(e.name);
    for (const n of ops.remove) named.add(n);
  };
  if (route.request !== null) note(route.request);
  for (const b of route.response) note(b);
  const keep = <T extends HeaderOps>(ops: T): T => ({
    ...ops, set: ops.set.filter((e) => !named.has(e.name)), add: ops.add.filter((e) => !named.has(e.name)), remove: ops.remove.filter((n) => !named.has(n)),
  });
  const request = site.request === null ? route.request : route.request === null ? site.request : joinOps(keep(site.request), route.request);
  const response: ResponseHeaderBlock[] = [...site.response.map(keep), ...route.response];
  return { request, response: response.filter((b) => b.set.length + b.add.length + b.remove.length > 0) };
}

function joinOps(a: HeaderOps, b: HeaderOps): HeaderOps {
  return { set: [...a.set, ...b.set], add: [...a.add, ...b.add], remove: [...a.remove, ...b.remove] };
}

/** Every template in a set of rules (to check which placeholders they use). */
export function templatesOf(rules: HeaderRules | null): Template[] {
  if (rules === null) return [];
  const ops = [...(rules.request === null ? [] : [rules.request]), ...rules.response];
  return ops.flatMap((o) => [...o.set, ...o.add].map((e) => e.value));
}
