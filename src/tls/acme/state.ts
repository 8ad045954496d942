/** What Gatehouse remembers per host between attempts and restarts (state.json in storage). Times are ms since the epoch. */
export interface HostState {
  /** Failed attempts since the last success: drives the backoff. */
  readonly failures: number;
  /** Failed attempts ever (gatehouse_acme_failures_total). */
  readonly failuresTotal: number;
  readonly orders: number;
  readonly lastSuccess: number | null;
  readonly lastAttempt: number | null;
  /** No attempt before this (backoff after a failure). */
  readonly nextAttempt: number | null;
  readonly lastError: string | null;
  /** When the stored certificate is due: chosen inside the ARI window, or at two thirds of its lifetime. */
  readonly renewAt: number | null;
  /** Serial of the certificate renewAt was computed for. */
  readonly renewSerial: string | null;
  /** Ask the CA's renewalInfo again after this (its Retry-After). */
  readonly ariRecheckAt: number | null;
}

export type AcmeState = Readonly<Record<string, HostState>>;

export const EMPTY_HOST: HostState = {
  failures: 0, failuresTotal: 0, orders: 0, lastSuccess: null, lastAttempt: null, nextAttempt: null,
  lastError: null, renewAt: null, renewSerial: null, ariRecheckAt: null,
};

const MINUTE = 60_000;
const DAY = 86_400_000;

/** Wait after the n-th consecutive failure: 1 min, doubling, at most 1 day (Let's Encrypt's integration guide). */
export function backoffMs(failures: number): number {
  return Math.min(MINUTE * 2 ** Math.max(0, failures - 1), DAY);
}

/** Without ARI: renew when a third of the lifetime is left (a 90-day certificate at 60 days, as certbot does). */
export function thirdLeft(notBefore: number, notAfter: number): number {
  return notAfter - (notAfter - notBefore) / 3;
}

/**
 * RFC 9773 §4.2: pick a uniformly random time inside the suggested window, so that clients
 * do not all arrive at its start; a window already open or passed means now.
 */
export function inWindow(start: number, end: number, now: number, random = Math.random()): number {
  if (end <= now) return now;
  const from = Math.max(start, now);
  return from + Math.floor((end - from) * random);
}

/** state.json as read back; anything unreadable starts afresh rather than stopping renewals. */
export function parseState(text: string): AcmeState {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {};
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) return {};
  const out: Record<string, HostState> = {};
  for (const [host, value] of Object.entries(raw as Record<string, unknown>)) {
    if (value === null || typeof value !== 'object') continue;
    const v = value as Record<string, unknown>;
    const num = (k: string): number | null => (typeof v[k] === 'number' && Number.isFinite(v[k]) ? v[k] : null);
    const str = (k: string): string | null => (typeof v[k] === 'string' ? v[k] : null);
    out[host] = {
      failures: num('failures') ?? 0, failuresTotal: num('failuresTotal') ?? 0, orders: num('orders') ?? 0,
      lastSuccess: num('lastSuccess'), lastAttempt: num('lastAttempt'), nextAttempt: num('nextAttempt'),
      lastError: str('lastError'), renewAt: num('renewAt'), renewSerial: str('renewSerial'), ariRecheckAt: num('ariRecheckAt'),
    };
  }
  return out;
}

/** One line per host for `gatehouse check`. */
export function describeHost(host: string, s: HostState | undefined, cert: { notAfter: number; serial: string } | undefined, now: number): string {
  const at = (ms: number | null): string => (ms === null ? 'now' : ms <= now ? 'now' : new Date(ms).toISOString());
  const parts = [`acme ${host}:`];
  if (cert === undefined) parts.push('no certificate yet;');
  else parts.push(`certificate ${cert.serial} valid until ${new Date(cert.notAfter).toISOString()}; renews ${s?.renewAt === null || s?.renewAt === undefined ? 'when a third of its life is left' : at(s.renewAt)};`);
  if (s !== undefined && s.failures > 0) parts.push(`${s.failures} failed attempt(s), last: ${s.lastError ?? 'unknown error'}; next attempt ${at(s.nextAttempt)}`);
  else parts.push(cert === undefined ? 'first order at start' : 'ok');
  return parts.join(' ');
}
