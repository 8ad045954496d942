import { BlockList, isIP, isIPv4 } from 'node:net';
import type { IncomingHttpHeaders } from 'node:http';
import type { Cidr } from '../config/types.js';
import { dropField } from './hop-by-hop.js';

/** The trusted-proxy set, built once per config. */
export interface Trust {
  readonly any: boolean;
  readonly list: BlockList;
}

export function buildTrust(cidrs: readonly Cidr[]): Trust {
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.address, c.prefix, c.family);
  return { any: cidrs.length > 0, list };
}

/** "::ffff:1.2.3.4" → "1.2.3.4": the same client whichever socket family accepted it. */
export function normaliseIp(address: string): string {
  return address.startsWith('::ffff:') && isIPv4(address.slice(7)) ? address.slice(7) : address;
}

/** Is `ip` (normalised) in the set? */
export function isTrusted(trust: Trust, ip: string): boolean {
  return trust.any && trust.list.check(ip, isIPv4(ip) ? 'ipv4' : 'ipv6');
}

export interface ForwardedResult {
  /** The client as Gatehouse believes it: hashing key, X-Real-IP, logs. */
  readonly clientIp: string;
}

/** The forwarding fields a client sends, dropped from an untrusted peer (each only when present: dropField). */
const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded'];

/**
 * Rewrite the forwarding headers in place. From an untrusted peer every value it sent is
 * dropped (spoofing defence); from a trusted proxy its chain is kept, the peer appended, and
 * the client is the right-most address that is not itself a trusted proxy.
 */
export function applyForwarded(headers: IncomingHttpHeaders, peer: string, trust: Trust, proto: 'http' | 'https' = 'https'): ForwardedResult {
  if (!isTrusted(trust, peer)) {
    for (const name of FORWARDED) dropField(headers, name);
    headers['x-forwarded-for'] = peer;
    headers['x-forwarded-proto'] = proto;
    if (headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
    headers['x-real-ip'] = peer;
    return { clientIp: peer };
  }
  const sent = headers['x-forwarded-for'];
  const chain = (Array.isArray(sent) ? sent.join(',') : sent ?? '').split(',').map((s) => normaliseIp(s.trim())).filter((s) => s !== '');
  let clientIp = peer;
  for (let i = chain.length - 1; i >= 0; i--) {
    const hop = chain[i] as string;
    if (isIP(hop) === 0) break; // garbage in the chain: believe nothing left of it
    clientIp = hop;
    if (!isTrusted(trust, hop)) break;
  }
  chain.push(peer);
  headers['x-forwarded-for'] = chain.join(', ');
  headers['x-forwarded-proto'] ??= proto;
  if (headers['x-forwarded-host'] === undefined && headers.host !== undefined) headers['x-forwarded-host'] = headers.host;
  headers['x-real-ip'] = clientIp;
  return { clientIp };
}
