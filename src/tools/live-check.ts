import { randomBytes, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseDuration } from '../config/values.js';
import { UsageError, type CommandResult, type FlagsOf } from './command.js';
import { ask, handshake, type Answer, type Dial, type Handshake, type Outcome } from './probes.js';

/*
 * `gatehouse check --live`: what a browser-facing edge must do, asked from the outside, of any
 * edge (Gatehouse, nginx, a CDN). Every probe runs at once under its own deadline; the lines come
 * out in a fixed order so a diff of two runs shows what changed.
 */

export type Level = 'ok' | 'warn' | 'FAIL';

export interface CheckLine {
  readonly level: Level;
  readonly text: string;
}

export interface LiveOptions {
  /** https://HOST[:PORT]/ */
  readonly url: string;
  /** http://HOST[:PORT]/: probe the redirect listener; absent: no plain-HTTP request at all. */
  readonly http?: string | undefined;
  /** PEM trusted for the edge's chain instead of the system roots, and the file it came from. */
  readonly ca?: { readonly pem: string; readonly file: string } | undefined;
  /** A WebSocket path to try a foreign-Origin upgrade on. */
  readonly ws?: string | undefined;
  /** Dial this address instead of resolving HOST (the name still goes in SNI, Host and the name check). */
  readonly connect?: string | undefined;
  /** Per probe; default 5000 ms. */
  readonly timeoutMs?: number | undefined;
}

const YEAR_S = 31_536_000;
/** Let's Encrypt renews at 30 days left; under 14, a failing renewal is an outage in waiting. */
const MIN_DAYS = 14;
/** A non-root path with a query, percent-escapes included, so a redirect that drops or re-encodes either shows. */
const REDIRECT_PROBE = '/gatehouse-check/a%20b?q=1&next=%2Fx';

/** `gatehouse check --live` flags (node:util parseArgs). */
export const LIVE_OPTIONS = {
  live: { type: 'string' }, http: { type: 'string' }, ca: { type: 'string' }, ws: { type: 'string' },
  connect: { type: 'string' }, timeout: { type: 'string' },
} as const;

export type LiveFlags = FlagsOf<typeof LIVE_OPTIONS>;

/** `gatehouse check --live`: prints one line per check; 1 if any is FAIL. */
export async function liveCommand(flags: LiveFlags): Promise<CommandResult> {
  if (flags.live === undefined) throw new UsageError('--live needs a URL: https://HOST[:PORT]/');
  const timeoutMs = flags.timeout === undefined ? 5000 : parseDuration(flags.timeout);
  if (timeoutMs === undefined || timeoutMs === 0) throw new UsageError(`--timeout "${flags.timeout ?? ''}" is not a duration such as 5s`);
  let ca: LiveOptions['ca'];
  if (flags.ca !== undefined) {
    try {
      ca = { pem: readFileSync(flags.ca, 'utf8'), file: flags.ca };
    } catch (err) {
      throw new UsageError(`cannot read --ca ${flags.ca}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
    // Node skips what does not parse as a certificate, which would quietly mean "trust nothing".
    try {
      new X509Certificate(ca.pem);
    } catch {
      throw new UsageError(`--ca ${flags.ca} holds no PEM certificate`);
    }
  }
  // RFC 9112 §3.2.1 origin-form: what an HTTP client can put on its request line unescaped.
  if (flags.ws !== undefined && !/^\/[\x21-\x7e]*$/.test(flags.ws)) throw new UsageError(`--ws "${flags.ws}" must be a path like /ws (spaces and non-ASCII percent-encoded)`);
  const options: LiveOptions = { url: flags.live, http: flags.http, ws: flags.ws, connect: flags.connect, timeoutMs, ca };
  const targets = parseTargets(options);
  if (!targets.ok) throw new UsageError(targets.reason);
  const lines = await liveCheck(options, targets.https, targets.http);
  return { code: lines.some((l) => l.level === 'FAIL') ? 1 : 0, stdout: formatLines(lines), stderr: '' };
}

/** `url` and `http` as the checks need them, or why they are unusable (a usage error). */
function parseTargets(options: LiveOptions): { ok: true; https: URL; http: URL | undefined } | { ok: false; reason: string } {
  const https = URL.canParse(options.url) ? new URL(options.url) : undefined;
  if (https?.protocol !== 'https:') return { ok: false, reason: `--live needs an https:// URL, got "${options.url}"` };
  if (options.http === undefined) return { ok: true, https, http: undefined };
  const http = URL.canParse(options.http) ? new URL(options.http) : undefined;
  if (http?.protocol !== 'http:') return { ok: false, reason: `--http needs an http:// URL, got "${options.http}"` };
  return { ok: true, https, http };
}

/** Run every check against the edge; the lines in report order. */
async function liveCheck(options: LiveOptions, https: URL, http: URL | undefined): Promise<CheckLine[]> {
  const name = https.hostname.replace(/^\[(.*)\]$/, '$1');
  const dial: Dial = { name, address: options.connect ?? name, ca: options.ca?.pem, timeoutMs: options.timeoutMs ?? 5000 };
  const port = Number(https.port || 443);
  const stranger = `gatehouse-check-${randomBytes(4).toString('hex')}.invalid`;
  const [tls13, tls12, root, unknown, plain, upgrade] = await Promise.all([
    handshake(dial, port, 'TLSv1.3'),
    handshake(dial, port, 'TLSv1.2'),
    ask(dial, { secure: true, port, path: '/', headers: { host: https.host } }),
    ask(dial, { secure: true, port, path: '/', headers: { host: stranger } }),
    http === undefined ? undefined : ask(dial, { secure: false, port: Number(http.port || 80), path: REDIRECT_PROBE, headers: { host: http.host } }),
    options.ws === undefined ? undefined : ask(dial, { secure: true, port, path: options.ws, headers: upgradeHeaders(https.host) }),
  ]);
  const trust = options.ca === undefined ? 'the system roots' : options.ca.file;
  const lines: CheckLine[] = [
    tls13.ok ? ok(`TLS 1.3 handshake works (${tls13.value.cipher})`) : fail(`TLS 1.3 handshake failed: ${tls13.error}`),
    tls12.ok ? fail(`TLS 1.2 accepted (${tls12.value.cipher}): only TLS 1.3 should be offered`) : tls12.timedOut || isUnreachable(tls12.error) ? fail(`TLS 1.2 probe: ${tls12.error}`) : ok(`TLS 1.2 refused (${tls12.error})`),
    ...certificateLines(tls13.ok ? tls13.value : tls12.ok ? tls12.value : undefined, name, trust),
    hstsLine('HSTS on /', root),
    hstsLine(`HSTS on a generated error (Host: ${stranger})`, unknown),
  ];
  if (http !== undefined && plain !== undefined) lines.push(...redirectLines(plain, https));
  if (options.ws !== undefined && upgrade !== undefined) lines.push(upgradeLine(options.ws, upgrade));
  return lines;
}

/** The verdict lines as printed: `ok`, `warn` or `FAIL`, then the text. */
function formatLines(lines: readonly CheckLine[]): string {
  return lines.map((l) => `${l.level.padEnd(4)} ${l.text}`).join('\n');
}

const ok = (text: string): CheckLine => ({ level: 'ok', text });
const warn = (text: string): CheckLine => ({ level: 'warn', text });
const fail = (text: string): CheckLine => ({ level: 'FAIL', text });

function isUnreachable(error: string): boolean {
  return /ECONNREFUSED|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN/.test(error);
}

function certificateLines(seen: Handshake | undefined, name: string, trust: string): CheckLine[] {
  if (seen === undefined) return [fail('certificate: no handshake completed, nothing to check')];
  const notAfter = new Date(seen.certificate.valid_to);
  const days = Math.floor((notAfter.getTime() - Date.now()) / 86_400_000);
  const expiry = `certificate expires ${notAfter.toISOString()} (in ${days} days)`;
  return [
    seen.nameError === undefined ? ok(`certificate is valid for ${name}`) : fail(`certificate is not valid for ${name}: ${seen.nameError}`),
    seen.trusted ? ok(`certificate chain is trusted by ${trust}`) : fail(`certificate chain is not trusted by ${trust}: ${seen.trustError ?? 'unknown reason'}`),
    days < MIN_DAYS ? fail(`${expiry}: under ${MIN_DAYS} days, renew now`) : ok(expiry),
  ];
}

/** The first Strict-Transport-Security field and how many were sent (RFC 6797 §8.1: a browser uses only the first). */
function stsFields(answer: Answer): string[] {
  const values: string[] = [];
  for (let i = 0; i < answer.rawHeaders.length; i += 2) {
    if ((answer.rawHeaders[i] as string).toLowerCase() === 'strict-transport-security') values.push(answer.rawHeaders[i + 1] as string);
  }
  return values;
}

/** RFC 6797 §6.1.1: max-age is required, its value a token or quoted string of digits. */
function maxAgeOf(value: string): number | undefined {
  for (const directive of value.split(';')) {
    const match = /^\s*max-age\s*=\s*"?(\d+)"?\s*$/i.exec(directive);
    if (match !== null) return Number(match[1]);
  }
  return undefined;
}

function hstsLine(what: string, outcome: Outcome<Answer>): CheckLine {
  if (!outcome.ok) return fail(`${what}: ${outcome.error}`);
  const { status } = outcome.value;
  const fields = stsFields(outcome.value);
  const first = fields[0];
  if (first === undefined) return fail(`${what}: none on the ${status} answer`);
  const maxAge = maxAgeOf(first);
  const repeated = fields.length > 1 ? `; sent ${fields.length} times, browsers use only the first` : '';
  if (maxAge === undefined) return fail(`${what}: "${first}" has no valid max-age (${status})`);
  const text = `${what}: ${first} (${status}${repeated})`;
  if (maxAge < YEAR_S) return warn(`${text}: max-age under 1 year (${YEAR_S})`);
  return repeated === '' ? ok(text) : warn(text);
}

function redirectLines(outcome: Outcome<Answer>, https: URL): CheckLine[] {
  if (!outcome.ok) return [fail(`plain HTTP GET ${REDIRECT_PROBE}: ${outcome.error}`)];
  const { status, headers } = outcome.value;
  const location = headers.location;
  const lines: CheckLine[] = [];
  const where = URL.canParse(location ?? '') ? new URL(location as string) : undefined;
  if (![301, 302, 307, 308].includes(status) || where === undefined) {
    lines.push(fail(`plain HTTP GET ${REDIRECT_PROBE}: ${status}${location === undefined ? ' without Location' : ` to "${location}"`}, expected a redirect to https`));
  } else if (where.protocol !== 'https:' || where.hostname !== https.hostname || `${where.pathname}${where.search}` !== REDIRECT_PROBE) {
    lines.push(fail(`plain HTTP redirect drops the scheme, host, path or query: ${status} to ${location as string}`));
  } else if (where.port !== https.port) {
    lines.push(warn(`plain HTTP redirect keeps path and query but names port ${where.port || '443'}, not ${https.port || '443'}: ${status} to ${location as string}`));
  } else {
    lines.push(ok(`plain HTTP redirects with path and query kept: ${status} to ${location as string}`));
  }
  // RFC 6797 §7.2: an HSTS host must not send the header over plain HTTP (§8.1: browsers ignore it there).
  const sts = stsFields(outcome.value);
  lines.push(sts.length === 0 ? ok('no HSTS over plain HTTP') : fail(`HSTS sent over plain HTTP ("${sts[0] as string}"): RFC 6797 §7.2 forbids it`));
  return lines;
}

/** A syntactically valid RFC 6455 §4.1 upgrade from an Origin no edge should admit. */
function upgradeHeaders(host: string): Record<string, string> {
  return {
    host, connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13',
    'sec-websocket-key': randomBytes(16).toString('base64'), origin: 'https://gatehouse-check.invalid',
  };
}

function upgradeLine(path: string, outcome: Outcome<Answer>): CheckLine {
  const what = `foreign-Origin WebSocket upgrade on ${path}`;
  if (!outcome.ok) return fail(`${what}: ${outcome.error}`);
  const { status } = outcome.value;
  // Cross-site WebSocket hijacking: the browser sends the victim's cookies with any page's upgrade (RFC 6455 §10.2).
  if (status === 101) return fail(`${what} was accepted (101): any web page can open it with the user's cookies`);
  if (status === 404) return warn(`${what}: 404, so ${path} may not be a WebSocket route and the Origin check was not exercised`);
  return stsFields(outcome.value).length === 0 ? warn(`${what} refused (${status}) but without HSTS`) : ok(`${what} refused (${status})`);
}
