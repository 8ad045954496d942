import type { Config } from '../config/types.js';
import { buildTrust, type Trust } from '../http/forwarded.js';
import { GuardTable } from './guard/guard.js';
import type { GuardState } from './guard/state.js';
import { hstsValue } from '../http/hsts.js';
import { SiteTable } from './sites.js';
import { Upstream, type TargetRegistry } from '../upstream/targets.js';

/**
 * Everything the request path reads, derived from one Config at load time. A reload builds a
 * new Runtime and swaps the reference; requests already running keep the one they started with.
 */
export interface Runtime {
  readonly config: Config;
  readonly hsts: string;
  readonly sites: SiteTable;
  readonly trust: Trust;
  /** listen.proxyProtocol: the balancers whose connections must start with a PROXY header. */
  readonly proxyPeers: Trust;
  readonly upstreams: ReadonlyMap<string, Upstream>;
  /** Route guards (access, auth, rate limits); empty without `guard` state (tools that only look). */
  readonly guards: GuardTable;
}

export function buildRuntime(config: Config, targets: TargetRegistry, guard?: GuardState): Runtime {
  const upstreams = new Map<string, Upstream>();
  for (const [name, upstream] of config.upstreams) upstreams.set(name, new Upstream(upstream, targets));
  // Live pools take a reload's keep-alive settings now: building a runtime happens after the
  // last step of a reload that can fail, so no refused config leaves its settings behind.
  targets.configure(upstreams.values());
  return {
    config,
    hsts: hstsValue(config.hsts),
    sites: new SiteTable(config.sites, upstreams),
    trust: buildTrust(config.trustedProxies),
    proxyPeers: buildTrust(config.listen.proxyProtocol),
    upstreams,
    guards: new GuardTable(config, upstreams, guard),
  };
}

/** The HSTS value for an answer over `scheme`: none over plain HTTP (RFC 6797 §7.2: a `plainHttp: serve` site on :80). */
export function hstsOver(runtime: Runtime, scheme: 'http' | 'https'): string | null {
  return scheme === 'https' ? runtime.hsts : null;
}

/** Targets a runtime uses (registry keys): what the registry must keep after a reload. */
export function targetKeys(runtime: Runtime): Set<string> {
  return new Set([...runtime.upstreams.values()].flatMap((u) => u.targets.map((t) => t.key)));
}
