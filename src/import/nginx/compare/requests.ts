import type { Directive } from '../parse.js';
import { ANSWER_HEADER } from './backends.js';
import { parseListen, type ListenSpec } from './nginx-config.js';
import { sampleFor } from './sample.js';
import { walk } from './targets.js';

/** Why a request is in the set; some kinds meet a difference Gatehouse makes on purpose. */
export type RequestKind = 'path' | 'method' | 'host' | 'unknown-host' | 'upgrade' | 'foreign-origin' | 'auth' | 'spoof' | 'tls12';

/** One request of the set, sent alike to nginx and to Gatehouse. */
export interface CompareRequest {
  readonly kind: RequestKind;
  /** The original port and whether it is TLS; each side sends it to its own loopback port for it. */
  readonly listen: ListenSpec;
  /** Host header; `{port}` stands for the port the side really listens on. */
  readonly host: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  /** Where the request came from in the config (`FILE:LINE`), for the report. */
  readonly from: string;
}

/** The Host used for unknown-host requests (RFC 2606 reserves .invalid). */
export const UNKNOWN_HOST = 'unknown.compare.invalid';
const WRONG_BASIC = `Basic ${Buffer.from('compare:wrong-password').toString('base64')}`;
const GET_HEADERS = { 'accept-encoding': 'gzip', 'user-agent': 'gatehouse-compare' };

/** A Host that a server_name matches: `*.x` → `compare.x`, `.x` → `x`; regex names and `_` give none. */
export function hostFor(name: string): string | undefined {
  if (name === '' || name === '_' || name.startsWith('~') || name.includes('$') || name.endsWith('.*')) return undefined;
  if (name.startsWith('*.')) return `compare${name.slice(1)}`.toLowerCase();
  return (name.startsWith('.') ? name.slice(1) : name).toLowerCase();
}

/** Paths for one location: the path itself and its neighbours (without slash, a sibling, a longer one). */
export function locationPaths(args: readonly string[]): string[] {
  const [first, second] = args;
  if (first === undefined || first.startsWith('@')) return [];
  if (first === '=' && second !== undefined) return [second, second.endsWith('/') ? `${second}x` : `${second}/`, `${second}x`];
  if ((first === '~' || first === '~*') && second !== undefined) {
    const sample = sampleFor(second, first === '~*');
    if (sample === undefined) return [];
    return first === '~*' ? [sample, sample.toUpperCase()] : [sample];
  }
  const p = first === '^~' && second !== undefined ? second : first;
  if (!p.startsWith('/')) return [];
  if (p === '/') return ['/'];
  if (p.endsWith('/')) return [p, `${p}compare/x?q=1&r=%2F`, p.slice(0, -1), `${p.slice(0, -1)}-sibling`, `${p}a/b/c.txt`];
  return [p, `${p}/x`, `${p}x`];
}

/** Whether a location passes WebSocket upgrades on (it sets the Upgrade header upstream, nginx's idiom). */
function proxiesUpgrades(block: readonly Directive[]): boolean {
  return block.some((d) => d.name === 'proxy_set_header' && d.args[0]?.toLowerCase() === 'upgrade');
}

const at = (d: Directive): string => `${d.file}:${d.line}`;

/** The request set of one http `server` block. */
function serverRequests(server: Directive): CompareRequest[] {
  const block = server.block ?? [];
  const listens = block.filter((d) => d.name === 'listen').map((d) => parseListen(d.args)).filter((l) => l !== undefined);
  const names = block.filter((d) => d.name === 'server_name').flatMap((d) => d.args);
  const hosts = [...new Set(names.map(hostFor).filter((h) => h !== undefined))];
  const host = hosts[0];
  if (host === undefined) return [];
  const out: CompareRequest[] = [];
  for (const listen of dedupe(listens.length > 0 ? listens : [{ port: 80, ssl: false }])) {
    const get = (kind: RequestKind, path: string, from: string, headers: Record<string, string> = {}, h = host): void => {
      out.push({ kind, listen, host: h, method: 'GET', path, headers: { ...GET_HEADERS, ...headers }, from });
    };
    const server0 = at(server);
    get('path', '/', server0);
    get('path', '/compare-unknown/path?x=1', server0);
    for (const other of hosts.slice(1)) get('host', '/', server0, {}, other);
    get('host', '/', server0, {}, host.toUpperCase());
    get('host', '/', server0, {}, `${host}:{port}`);
    get('spoof', '/', server0, { 'x-forwarded-for': '203.0.113.9', 'x-real-ip': '203.0.113.9', 'x-forwarded-proto': 'http', 'x-forwarded-host': 'evil.example', forwarded: 'for=203.0.113.9' });
    for (const method of ['HEAD', 'POST', 'OPTIONS']) out.push(methodRequest(method, listen, host, '/', server0));
    if (listen.ssl) get('tls12', '/', server0);
    walk(block, (d, parents) => {
      if (d.name !== 'location' || d.block === undefined || parents.some((p) => p.name === 'if')) return;
      const paths = locationPaths(d.args);
      const first = paths[0];
      if (first === undefined) return;
      for (const p of paths) get('path', p, at(d));
      for (const method of ['HEAD', 'POST', 'OPTIONS']) out.push(methodRequest(method, listen, host, first, at(d)));
      if (proxiesUpgrades(d.block)) {
        const scheme = listen.ssl ? 'https' : 'http';
        const ws = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' };
        get('upgrade', first, at(d), { ...ws, origin: `${scheme}://${host}` });
        get('foreign-origin', first, at(d), { ...ws, origin: 'https://evil.example' });
      }
      if (d.block.some((x) => x.name === 'auth_basic' && x.args[0] !== 'off') || block.some((x) => x.name === 'auth_basic' && x.args[0] !== 'off')) {
        get('auth', first, at(d), { authorization: WRONG_BASIC });
      }
      if (d.block.some((x) => x.name === 'auth_request' && x.args[0] !== 'off')) get('auth', first, at(d), { [ANSWER_HEADER]: '401' });
    });
    for (const d of block) if (d.name === 'rewrite' && d.args[0] !== undefined) {
      const sample = sampleFor(d.args[0], false);
      if (sample !== undefined) get('path', sample, at(d));
    }
  }
  return out;
}

function methodRequest(method: string, listen: ListenSpec, host: string, path: string, from: string): CompareRequest {
  const body = method === 'POST' ? { body: 'compare body\n', headers: { 'content-type': 'text/plain', 'user-agent': 'gatehouse-compare' } } : { headers: { 'user-agent': 'gatehouse-compare' } };
  return { kind: 'method', listen, host, method, path, from, ...body };
}

function dedupe(listens: readonly ListenSpec[]): ListenSpec[] {
  const seen = new Map<number, ListenSpec>();
  for (const l of listens) seen.set(l.port, { port: l.port, ssl: l.ssl || (seen.get(l.port)?.ssl ?? false) });
  return [...seen.values()];
}

/**
 * The request set of a whole config: every server's locations with their neighbours, methods,
 * Host variants, upgrades, auth and spoofing attempts, and per port one unknown Host.
 */
export function requestSet(ds: readonly Directive[]): CompareRequest[] {
  const out: CompareRequest[] = [];
  const ports = new Map<number, ListenSpec>();
  walk(ds, (d, parents) => {
    if (d.name !== 'server' || d.block === undefined || parents.some((p) => p.name === 'stream' || p.name === 'mail' || p.name === 'upstream')) return;
    for (const r of serverRequests(d)) {
      out.push(r);
      ports.set(r.listen.port, r.listen);
    }
  });
  for (const listen of ports.values()) {
    out.push({ kind: 'unknown-host', listen, host: UNKNOWN_HOST, method: 'GET', path: '/', headers: GET_HEADERS, from: '(every server)' });
  }
  const seen = new Set<string>();
  return out.filter((r) => {
    const key = JSON.stringify([r.listen.port, r.host, r.method, r.path, r.headers]);
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
