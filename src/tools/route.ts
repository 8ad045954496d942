import { isIP } from 'node:net';
import { formatProblem, loadConfig } from '../config/load.js';
import type { Config } from '../config/types.js';
import { normaliseIp } from '../http/forwarded.js';
import { hostOf } from '../http/host.js';
import { routingPath } from '../pipeline/path.js';
import { actionAnswer, contextOf } from '../pipeline/actions.js';
import type { RequestContext } from '../pipeline/expand.js';
import { upstreamPath } from '../pipeline/request.js';
import { withoutQuery } from '../pipeline/resolve.js';
import type { ClientRequest } from '../http/message.js';
import { matchRoute, MethodMismatch, type Route, type Site } from '../pipeline/sites.js';
import { buildRuntime } from '../pipeline/runtime.js';
import { rank } from '../upstream/rendezvous.js';
import { TargetRegistry } from '../upstream/targets.js';
import { UsageError, type CommandResult, type FlagsOf } from './command.js';

/** `gatehouse route` flags (node:util parseArgs). */
export const ROUTE_OPTIONS = {
  config: { type: 'string', short: 'c' }, ip: { type: 'string' }, host: { type: 'string' },
  path: { type: 'string' }, method: { type: 'string' }, json: { type: 'boolean' },
} as const;

export type RouteFlags = FlagsOf<typeof ROUTE_OPTIONS>;

/** `gatehouse route`: the explanation as text, or one JSON object with --json; 1 when no route applies. */
export async function routeCommand(flags: RouteFlags, envConfig: string | undefined): Promise<CommandResult> {
  const file = flags.config ?? envConfig;
  if (file === undefined) throw new UsageError('route needs --config FILE (or GATEHOUSE_CONFIG)');
  if (flags.ip === undefined) throw new UsageError('route needs --ip ADDR');
  const { config, problems } = await loadConfig(file);
  if (config === undefined) return { code: 1, stdout: '', stderr: problems.map(formatProblem).join('\n') };
  const result = explainRoute(config, { ip: flags.ip, host: flags.host, path: flags.path, method: flags.method });
  if (!result.ok) return { code: 1, stdout: '', stderr: `gatehouse route: ${result.reason}` };
  return { code: 0, stdout: flags.json === true ? JSON.stringify(result.answer) : formatRoute(result.answer, flags.ip), stderr: '' };
}

/** The answer of `gatehouse route`; its JSON form is exactly this object (README "Asking an edge why"). */
export interface RouteAnswer {
  /** The site's first host, as its route labels in metrics name it. */
  readonly site: string;
  /** The matched route's path prefix, exact path or regex. */
  readonly route: string;
  /** Upstream routes only: */
  readonly upstream?: string;
  /** The masked client address that is hashed (upstreams.NAME.hash prefixes). */
  readonly key?: string;
  /** Every target of the upstream, in the order this client tries them; targets as the logs write them. */
  /** Ranked as the client tries them: the primaries, then the backups (`backup: true`). */
  readonly targets?: readonly { readonly target: string; readonly rank: number; readonly backup?: true }[];
  /** Where the client goes while every target is up. */
  readonly chosen?: string;
  /** How the route matched (README "Routes, headers, redirects: coming from nginx"). */
  readonly match: 'exact' | 'prefix' | 'regex';
  /** Why this route and not another, in nginx's terms. */
  readonly why: string;
  /** The regex's captures ({re.N} / {re.NAME}); null for other routes. */
  readonly captures: Readonly<Record<string, string>> | null;
  /** What the route does with the request, placeholders expanded. */
  readonly action: string;
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
  /** Default: GET. */
  readonly method?: string | undefined;
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
    const method = (question.method ?? 'GET').toUpperCase();
    const route = matchRoute(site, withoutQuery(routed), method);
    if (route instanceof MethodMismatch) return { ok: false, reason: `path "${path}" is served only for ${route.allow} (a live ${method} would get 405)` };
    if (route === undefined) {
      return { ok: false, reason: `no route of site "${site.hosts[0] ?? ''}" matches path "${path}" (routes: ${site.routes.map((r) => r.path).join(', ')}; a live request would get 404)` };
    }
    const c = contextOf(probeRequest(path, method), {}, route, host, routed, 'https', ip);
    const described = { match: route.kind, why: whyMatched(site, route), captures: capturesOf(c.match), action: describeAction(route, c) };
    const action = route.action;
    // A files route with a fallback is explained by its fallback upstream (where a missing file goes).
    const upstream = action.kind === 'upstream' || action.kind === 'files' ? route.upstream : undefined;
    if (upstream === undefined) return { ok: true, answer: { site: site.hosts[0] ?? host, route: route.path, ...described } };
    const key = upstream.keyOf(ip);
    const backups = new Set(upstream.backups.map((t) => t.id));
    const ranked = [...rank(key, upstream.primaries.map((t) => t.id)), ...rank(key, [...backups])];
    const chosen = upstream.choose(key);
    if (chosen === undefined || chosen.id !== ranked[0]) throw new Error('rank() and choose() disagree'); // both are rendezvous.ts; a guard, not a branch
    return {
      ok: true,
      answer: {
        site: site.hosts[0] ?? host,
        route: route.path,
        upstream: upstream.name,
        key,
        targets: ranked.map((target, i) => ({ target, rank: i + 1, ...(backups.has(target) ? { backup: true as const } : {}) })),
        chosen: chosen.id,
        ...described,
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
  ];
  if (answer.upstream !== undefined) {
    lines.push(
      `upstream  ${answer.upstream}`,
      `key       ${answer.key ?? ''}`,
      'targets',
      ...(answer.targets ?? []).map((t) => `  ${t.rank}. ${t.target}${t.backup === true ? ' (backup)' : ''}${t.target === answer.chosen ? '   <- chosen' : ''}`),
      `chosen    ${answer.chosen ?? ''} (while it is up; if it is down, the next target in this order that is)`,
    );
  }
  lines.push(
    `match     ${answer.match}: ${answer.why}`,
    ...(answer.captures === null ? [] : [`captures  ${Object.entries(answer.captures).map(([k, v]) => `{re.${k}}=${JSON.stringify(v)}`).join(' ')}`]),
    `action    ${answer.action}`,
  );
  return lines.join('\n');
}

/** Enough of a request for contextOf: the path asked about, no socket. */
function probeRequest(url: string, method: string): ClientRequest {
  return { url, method, headers: {}, socket: {} } as unknown as ClientRequest;
}

function capturesOf(match: RegExpExecArray | null): Record<string, string> | null {
  if (match === null) return null;
  const out: Record<string, string> = {};
  match.forEach((v, i) => { if (i > 0) out[String(i)] = v ?? ''; });
  for (const [k, v] of Object.entries(match.groups ?? {})) out[k] = v ?? '';
  return out;
}

function whyMatched(site: Site, route: Route): string {
  const conditions = [route.methods === null ? '' : ` for ${[...route.methods].join(', ')}`, route.scheme === null ? '' : ` over ${route.scheme}`].join('');
  if (route.action.kind === 'slash') return `"${route.path}" is the prefix route "${route.path}/" without its slash: nginx's 301 to the slash form${conditions}`;
  if (route.kind === 'exact') return `exact path${conditions} (wins before any prefix or regex)`;
  if (route.kind === 'regex') return `first regex in file order that matches${conditions}${site.prefixes.length > 0 ? ' (no longer prefix overrides regexes)' : ''}`;
  if (route.overridesRegex) return `longest matching prefix${conditions}, with overridesRegex (nginx ^~): regexes are not tried`;
  return site.regexes.length === 0 ? `longest matching prefix${conditions}` : `longest matching prefix${conditions}; no regex route matched`;
}

function describeAction(route: Route, c: RequestContext): string {
  const a = route.action;
  if (a.kind === 'slash') return `301 to ${c.path}/`;
  if (a.kind === 'redirect' || a.kind === 'respond') {
    const answer = actionAnswer(route, c);
    const location = answer.pairs[answer.pairs.indexOf('location') + 1];
    return a.kind === 'redirect' ? `redirect ${answer.status} to ${location ?? ''}` : `respond ${answer.status}${answer.body === '' ? '' : ` with ${JSON.stringify(answer.body.slice(0, 60))}`}`;
  }
  if (a.kind === 'files') {
    const files = route.files;
    return `serve files from ${files?.root ?? '?'}${files?.fallback === undefined || files.fallback === null ? '' : `, else proxy to upstream ${files.fallback}`}`;
  }
  const sent = upstreamPath(route, c, {});
  return `proxy to upstream ${a.upstream.name} as ${sent}${a.rewriteLocation ? '' : ' (Location not rewritten)'}`;
}
