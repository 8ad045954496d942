import { BlockList, isIPv4 } from 'node:net';
import type { AccessConfig } from '../../config/guard.js';
import type { Cidr } from '../../config/types.js';
import { denial, type Denial } from './answer.js';

/** One CIDR list, built once per config; `find` names the entry that matched, for the log. */
class CidrList {
  readonly #entries: readonly { readonly cidr: Cidr; readonly list: BlockList; readonly text: string }[];
  readonly #any: BlockList;

  constructor(cidrs: readonly Cidr[]) {
    this.#any = new BlockList();
    this.#entries = cidrs.map((cidr) => {
      const list = new BlockList();
      list.addSubnet(cidr.address, cidr.prefix, cidr.family);
      this.#any.addSubnet(cidr.address, cidr.prefix, cidr.family);
      return { cidr, list, text: `${cidr.address}/${cidr.prefix}` };
    });
  }

  get empty(): boolean {
    return this.#entries.length === 0;
  }

  /** The matching entry as written, or undefined. One BlockList check first: the usual miss costs one lookup. */
  find(ip: string, family: 'ipv4' | 'ipv6'): string | undefined {
    if (!this.#any.check(ip, family)) return undefined;
    return this.#entries.find((e) => e.list.check(ip, family))?.text;
  }
}

/**
 * `access` (README "Access control"), in nginx's order of concern: a method the route does not take is 405
 * with Allow (RFC 9110 §15.5.6), then `deny` wins over `allow`, and a non-empty `allow` that
 * does not match is 403. The address is the client's as 6 and 17 define it (PROXY source,
 * trusted proxies' X-Forwarded-For), never a header an untrusted peer wrote.
 */
export class Access {
  readonly #methods: ReadonlySet<string> | null;
  readonly #allowHeader: string;
  readonly #allow: CidrList;
  readonly #deny: CidrList;

  constructor(config: AccessConfig) {
    this.#methods = config.methods === null ? null : new Set(config.methods);
    this.#allowHeader = (config.methods ?? []).join(', ');
    this.#allow = new CidrList(config.allow);
    this.#deny = new CidrList(config.deny);
  }

  check(method: string, clientIp: string): Denial | undefined {
    if (this.#methods !== null && !this.#methods.has(method)) {
      return denial('EDGE_ERR_METHOD_NOT_ALLOWED', `method ${method} not allowed here`, 'access.methods', [['allow', this.#allowHeader]]);
    }
    if (this.#deny.empty && this.#allow.empty) return undefined;
    const family = isIPv4(clientIp) ? 'ipv4' : 'ipv6';
    const denied = this.#deny.find(clientIp, family);
    if (denied !== undefined) return denial('EDGE_ERR_ACCESS_DENIED', 'access denied', `access.deny ${denied}`);
    if (!this.#allow.empty && this.#allow.find(clientIp, family) === undefined) return denial('EDGE_ERR_ACCESS_DENIED', 'access denied', 'access.allow (no entry matches)');
    return undefined;
  }
}
