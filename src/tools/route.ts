import { isIP } from 'node:net';
import { formatProblem, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { normaliseIp } from '../pipeline/forwarded.js';
import { hostOf } from '../pipeline/host.js';
import { routingPath } from '../pipeline/path.js';
import { matchRoute } from '../pipeline/sites.js';
import { buildRuntime } from '../runtime.js';
import { rank } from '../upstream/rendezvous.js';
import { TargetRegistry } from '../upstream/pool.js';
import { UsageError, type CommandResult, type FlagsOf } from './command.js';

/** `gatehouse route` flags (node:util parseArgs). */
export const ROUTE_OPTIONS = {
  config: { type: 'string', short: 'c' }, ip: { type: 'string' }, host: { type: 'string' },
  path: { type: 'string' }, json: { type: 'boolean' },
} as const;

export type RouteFlags = FlagsOf<typeof ROUTE_OPTIONS>;

/** `gatehouse route`: the explanation as text, or one JSON object with --json; 1 when no route applies. */
export async function routeCommand(flags: RouteFlags, envConfig: string | undefined): Promise<CommandResult> {
  const file = flags.config ?? envConfig;
  if (file === undefined) throw new UsageError('route needs --config FILE (or GATEHOUSE_CONFIG)');
  if (flags.ip === undefined) throw new UsageError('route needs --ip ADDR');
  const { config, problems } = await loadConfig(file);
  if (config === undefined) return { code: 1, stdout: '', stderr: problems.map(formatProblem).join('\n') };
  const result = explainRoute(config, { ip: flags.ip, host: flags.host, path: flags.path });
  if (!result.ok) return { code: 1, stdout: '', stderr: `gatehouse route: ${result.reason}` };
  return { code: 0, stdout: flags.json === true ? JSON.stringify(result.answer) : formatRoute(result.answer, flags.ip), stderr: '' };
}

/** The answer of `gatehouse route`; its JSON form is exactly this object (DESIGN, Command line). */
export interface RouteAnswer {
  /** The site's first host, as its route labels in metrics name it. */
  readonly site: string;
  /** The matched route's path prefix. */
  readonly route: string;
  readonly upstream: string;
  /** The masked client address that is hashed (upstreams.NAME.hash prefixes). */
  readonly key: string;
  /** Every target of the upstream, in the order this client tries them; targets as the logs write them. */
  readonly targets: readonly { readonly target: string; readonly rank: number }[];
  /** Where the client goes while every target is up. */
  readonly chosen: string;
}

export type RouteResult =
  | { readonly ok: true; readonly answer: RouteAnswer }
  | { readonly ok: false; readonly reason: string };

export interface RouteQuestion {
  readonly ip: string;
  /** Default: the first site's first host. */
  readonly host?: string | undefined;
  /** Default: `/`. */
  readonly path?: string | undefined;
}

/**
 * Which site, route, upstream and target a client at `ip` gets, computed by the runtime's own
 * code: the same SiteTable and matchRoute that resolve() uses, the upstream's keyOf, and its
 * choose() on a fresh registry (every target healthy), so the answer cannot drift from a live edge.
 */
export function explainRoute(config: Config, question: RouteQuestion): RouteResult {
  const ip = normaliseIp(question.ip.trim());
  if (isIP(ip) === 0) return { ok: false, reason: `--ip "${question.ip}" is not an IPv4 or IPv6 address` };
  const registry = new TargetRegistry();
  try {
    const runtime = buildRuntime(config, registry);
    const wanted = question.host ?? config.sites[0]?.hosts[0];
    if (wanted === undefined) return { ok: false, reason: 'the config has no sites' };
    const host = hostOf(wanted);
    if (host === null || host === undefined) return { ok: false, reason: `--host "${wanted}" is not a host name` };
    const site = runtime.sites.match(host);
    if (site === undefined) return { ok: false, reason: `no site serves host "${host}" (a live request would get 421)` };
    const path = question.path ?? '/';
    if (!path.startsWith('/')) return { ok: false, reason: `--path "${path}" must start with "/"` };
    // The path a live request is routed by: dot segments and encoded unreserved characters resolved.
    const routed = routingPath(path);
    if (routed === null) return { ok: false, reason: `--path "${path}" climbs above "/" with dot segments (a live request would get 400)` };
    const route = matchRoute(site, routed);
    if (route === undefined) {
      return { ok: false, reason: `no route of site "${site.hosts[0] ?? ''}" matches path "${path}" (routes: ${site.routes.map((r) => r.path).join(', ')}; a live request would get 404)` };
    }
    const upstream = route.upstream;
    if (upstream === undefined) return { ok: false, reason: `route ${route.path} serves files from ${route.files?.root ?? '?'} and names no upstream` };
    const key = upstream.keyOf(ip);
    const ranked = rank(key, upstream.targets.map((t) => t.id));
    const chosen = upstream.choose(key, Date.now());
    if (chosen === undefined || chosen.id !== ranked[0]) throw new Error('rank() and choose() disagree'); // both are rendezvous.ts; a guard, not a branch
    return {
      ok: true,
      answer: {
        site: site.hosts[0] ?? host,
        route: route.path,
        upstream: upstream.name,
        key,
        targets: ranked.map((target, i) => ({ target, rank: i + 1 })),
        chosen: chosen.id,
      },
    };
  } finally {
    registry.destroy();
  }
}

/** The text form: one labelled line per field, targets ranked with the chosen one marked. */
function formatRoute(answer: RouteAnswer, ip: string): string {
  const lines = [
    `client    ${normaliseIp(ip.trim())}`,
    `site      ${answer.site}`,
    `route     ${answer.route}`,
    `upstream  ${answer.upstream}`,
    `key       ${answer.key}`,
    'targets',
    ...answer.targets.map((t) => `  ${t.rank}. ${t.target}${t.target === answer.chosen ? '   <- chosen' : ''}`),
    `chosen    ${answer.chosen} (while it is up; if it is down, the next target in this order that is)`,
  ];
  return lines.join('\n');
}
