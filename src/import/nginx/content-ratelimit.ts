import type { Directive } from './parse.js';
import { nearest, nearestOne, type Scope } from './scope.js';
import { allScopes, flag, rootOf, type Ctx, type Reporter } from './content-util.js';

/** One way a zone is used: nginx keeps burst and dry-run per `limit_req`, Gatehouse per budget. */
interface Use {
  readonly zone: string;
  readonly burst: number;
  readonly dryRun: boolean;
}

const param = (d: Directive, key: string): string | undefined => d.args.find((a) => a.startsWith(`${key}=`))?.slice(key.length + 1);

function useOf(scope: Scope, d: Directive): Use {
  return { zone: param(d, 'zone') ?? '', burst: Number(param(d, 'burst') ?? '0'), dryRun: flag(nearestOne(scope, 'limit_req_dry_run')) === true };
}

/** A zone used with one burst is one budget of its name; each further burst is `NAME-burstN` (and `-dry`). */
function budgetName(variants: readonly Use[], use: Use): string {
  const i = variants.findIndex((v) => v.burst === use.burst && v.dryRun === use.dryRun);
  if (i <= 0) return use.zone;
  return `${use.zone}-burst${use.burst}${use.dryRun ? '-dry' : ''}`;
}

/** Every `limit_req` of the configuration, in file order, per zone: the budgets the import writes. */
function variantsByZone(anywhere: Scope): Map<string, Use[]> {
  const out = new Map<string, Use[]>();
  for (const scope of allScopes(rootOf(anywhere))) {
    for (const d of scope.directives.filter((x) => x.name === 'limit_req')) {
      const use = useOf(scope, d);
      const list = out.get(use.zone) ?? [];
      if (!list.some((v) => v.burst === use.burst && v.dryRun === use.dryRun)) list.push(use);
      out.set(use.zone, list);
    }
  }
  return out;
}

/** The limit_req_zone directives Gatehouse can express: keyed by the client address. */
function zones(anywhere: Scope): Map<string, { d: Directive; rate: string | undefined; perAddress: boolean }> {
  const out = new Map<string, { d: Directive; rate: string | undefined; perAddress: boolean }>();
  for (const scope of allScopes(rootOf(anywhere))) {
    for (const d of scope.directives.filter((x) => x.name === 'limit_req_zone')) {
      const name = param(d, 'zone')?.split(':')[0] ?? '';
      const m = /^(\d+)r\/(s|m)$/.exec(param(d, 'rate') ?? '');
      const key = d.args[0] ?? '';
      out.set(name, { d, rate: m === null ? undefined : `${m[1]}/${m[2]}`, perAddress: key === '$binary_remote_addr' || key === '$remote_addr' });
    }
  }
  return out;
}

/** limit_req in force here → the route's `rateLimit` (README "Rate limits"): the budget of its zone and burst. */
export function translateRateLimit(ctx: Ctx, route: Record<string, unknown>): void {
  const { scope, report, consumed } = ctx;
  const uses = nearest(scope, 'limit_req');
  if (uses.length === 0) return;
  const known = zones(scope);
  const [first, ...more] = uses;
  for (const d of more) report.unsupported(d, 'a route has one rateLimit in Gatehouse; nginx applies every limit_req here');
  if (first === undefined) return;
  const use = useOf(scope, first);
  const zone = known.get(use.zone);
  if (zone === undefined || zone.rate === undefined || !zone.perAddress) {
    report.unsupported(first, `zone "${use.zone}" is not one Gatehouse can express (see its limit_req_zone)`);
    return;
  }
  consumed.add(first);
  const dry = nearestOne(scope, 'limit_req_dry_run');
  if (dry !== undefined) consumed.add(dry);
  const status = nearestOne(scope, 'limit_req_status');
  if (status !== undefined) consumed.add(status);
  if (status?.args[0] !== '429') {
    report.difference(status ?? first, `refused requests get 429 with Retry-After; nginx answers ${status?.args[0] ?? '503 (its default limit_req_status)'}`);
  }
  const level = nearestOne(scope, 'limit_req_log_level');
  if (level !== undefined) report.meaningless(level, 'Gatehouse logs every refusal at its own level (event rate-limited)');
  if (level !== undefined) consumed.add(level);
  const delay = param(first, 'delay');
  if (use.burst > 0 && !first.args.includes('nodelay')) {
    report.difference(first, delay === undefined
      ? 'nginx delays requests beyond the rate (up to burst) until they fit; Gatehouse serves them at once'
      : `nginx serves ${delay} at once and delays the rest of the burst; Gatehouse serves the whole burst at once`);
  }
  route.rateLimit = budgetName(variantsByZone(scope).get(use.zone) ?? [], use);
}

/** limit_req_zone (+ the bursts its limit_req lines give) → top-level `rateLimits` budgets. */
export function translateRateLimits(http: Scope, report: Reporter, consumed: Set<Directive>): Record<string, unknown> | undefined {
  const out: Record<string, unknown> = {};
  const variants = variantsByZone(http);
  for (const [name, zone] of zones(http)) {
    const { d } = zone;
    if (zone.rate === undefined) {
      report.unsupported(d, `rate "${param(d, 'rate') ?? ''}": Gatehouse takes N r/s or N r/m`);
      continue;
    }
    if (!zone.perAddress) {
      report.unsupported(d, `the key ${d.args[0] ?? ''}: Gatehouse's budgets are per client address ($binary_remote_addr)`);
      continue;
    }
    consumed.add(d);
    // $binary_remote_addr is the whole address, IPv6 included (Gatehouse's default groups a /64).
    for (const use of variants.get(name) ?? [{ zone: name, burst: 0, dryRun: false }]) {
      const budget: Record<string, unknown> = { rate: zone.rate };
      if (use.burst > 0) budget.burst = use.burst;
      budget.ipv6Prefix = 128;
      if (use.dryRun) budget.dryRun = true;
      out[budgetName(variants.get(name) ?? [], use)] = budget;
    }
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
