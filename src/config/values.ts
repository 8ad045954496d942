import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { Cidr, ListenAddress, TargetConfig } from './primitives.js';

/** Where a problem sits: a path into the document, and whether it is the key or its value. */
export type Path = readonly (string | number)[];

export interface Issue {
  readonly path: Path;
  readonly message: string;
  readonly severity: 'error' | 'warning';
  readonly on: 'key' | 'value';
}

/**
 * Collects every problem in one pass (users fix a file once, not once per error) and
 * offers the typed field readers the schema is written with. A reader returns undefined
 * after recording an issue, so the schema can fall back to the default and keep going.
 */
export class Reader {
  readonly issues: Issue[] = [];

  error(path: Path, message: string, on: 'key' | 'value' = 'value'): undefined {
    this.issues.push({ path, message, severity: 'error', on });
    return undefined;
  }

  warn(path: Path, message: string): void {
    this.issues.push({ path, message, severity: 'warning', on: 'value' });
  }

  /** A mapping with only the named keys; unknown keys are errors (typos must not be silently ignored). */
  object(value: unknown, path: Path, keys: readonly string[]): Record<string, unknown> | undefined {
    if (value === undefined || value === null) return {};
    if (typeof value !== 'object' || Array.isArray(value)) {
      return this.error(path, `expected a mapping with keys ${keys.join(', ')}`);
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!keys.includes(key)) {
        this.error([...path, key], `unknown key "${key}"${suggest(key, keys)}`, 'key');
      }
    }
    return record;
  }

  list(value: unknown, path: Path): readonly unknown[] | undefined {
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value)) return this.error(path, 'expected a list');
    return value;
  }

  string(value: unknown, path: Path): string | undefined {
    if (typeof value === 'string' && value.length > 0) return value;
    return this.error(path, 'expected a non-empty string');
  }

  boolean(value: unknown, path: Path): boolean | undefined {
    if (typeof value === 'boolean') return value;
    return this.error(path, 'expected true or false');
  }

  integer(value: unknown, path: Path, min: number, max: number): number | undefined {
    if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
    return this.error(path, `expected a whole number from ${min} to ${max}`);
  }

  oneOf<T extends string | number>(value: unknown, path: Path, allowed: readonly T[]): T | undefined {
    if ((allowed as readonly unknown[]).includes(value)) return value as T;
    return this.error(path, `expected one of ${allowed.join(', ')}`);
  }

  /** "500ms", "30s", "5m", "1h", "2d", "1y" (365 days) or a number of seconds → milliseconds. */
  duration(value: unknown, path: Path): number | undefined {
    const ms = parseDuration(value);
    if (ms !== undefined) return ms;
    return this.error(path, 'expected a duration such as 500ms, 30s, 5m, 1h, 2d, 1y, or a number of seconds');
  }

  /**
   * A duration that drives a timer: at least `min` ms. Longer than 2^31-1 ms (~24.8 days) Node's
   * timers would fire at once, so such a value is held to that, with a warning.
   */
  timer(value: unknown, path: Path, min: number): number | undefined {
    const ms = this.duration(value, path);
    if (ms === undefined) return undefined;
    if (ms < min) return this.error(path, min === 1 ? 'expected a positive duration (0 would fire at once)' : `expected at least ${min < 1000 ? `${min}ms` : `${min / 1000}s`}`);
    if (ms > MAX_TIMER_MS) {
      this.warn(path, 'longer than 24d, the most a Node timer can wait: 24d it is');
      return MAX_TIMER_MS;
    }
    return ms;
  }

  /** A number of bytes, or nginx-style "16k", "10m", "1g" (powers of 1024) → bytes within [min, max]. */
  size(value: unknown, path: Path, min: number, max: number): number | undefined {
    const bytes = parseSize(value);
    if (bytes !== undefined && bytes >= min && bytes <= max) return bytes;
    const range = max === Number.MAX_SAFE_INTEGER ? '' : ` from ${min} to ${max} bytes`;
    return this.error(path, `expected a size${range}: a whole number of bytes, or e.g. 16k, 10m, 1g`);
  }

  /** A port, "host:port", "[v6]:port", or false (when allowed) → address or null. */
  listen(value: unknown, path: Path, allowFalse: boolean): ListenAddress | null | undefined {
    if (value === false && allowFalse) return null;
    const address = parseListen(value);
    if (address !== undefined) return address;
    return this.error(path, `expected a port (1-65535), "host:port" or "[::]:port"${allowFalse ? ', or false to disable' : ''}`);
  }

  cidr(value: unknown, path: Path): Cidr | undefined {
    const cidr = typeof value === 'string' ? parseCidr(value) : undefined;
    if (cidr !== undefined) return cidr;
    return this.error(path, 'expected an IP address or CIDR such as 10.0.0.0/8 or fd00::/8');
  }

  /** `dir` anchors a relative `unix:PATH`, like every other path in the file. */
  target(value: unknown, path: Path, dir: string): TargetConfig | undefined {
    if (typeof value === 'string' && value.startsWith('unix:')) return this.#unixTarget(value.slice(5), path, dir);
    const target = typeof value === 'string' ? parseTarget(value) : undefined;
    if (target !== undefined) return target;
    return this.error(path, 'expected "host:port", "http(s)://host:port" (no path) or "unix:/path/to/app.sock"');
  }

  /**
   * nginx's `server unix:/run/app.sock`: plain HTTP/1.1 over a Unix stream socket. The id names the
   * absolute path, so hashing, logs and metrics tell sockets apart; the Host sent stays the client's.
   */
  #unixTarget(given: string, path: Path, dir: string): TargetConfig | undefined {
    if (given === '' || given.includes('\0')) return this.error(path, 'expected "unix:" followed by the socket\'s path, e.g. unix:/run/app.sock');
    const socketPath = resolve(dir, given);
    // sun_path holds 108 bytes with its terminating NUL on Linux (104 on the BSDs): a longer path cannot be connected to.
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH) return this.error(path, `the socket path ${socketPath} is longer than ${MAX_SOCKET_PATH} bytes, the most a Unix socket address holds`);
    return { id: `unix:${socketPath}`, protocol: 'http:', host: 'localhost', port: 0, tls: null, socketPath };
  }
}

/** Bytes of a Unix socket path, without the NUL (Linux's sun_path is 108 bytes). */
const MAX_SOCKET_PATH = 107;

/** The longest delay Node's setTimeout honours (a signed 32-bit number of ms). */
const MAX_TIMER_MS = 2_147_483_647;

const UNITS: Readonly<Record<string, number>> = {
  ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, y: 365 * 86_400_000,
};

export function parseDuration(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isFinite(value) && value >= 0 ? Math.round(value * 1000) : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|y)$/.exec(value.trim());
  if (match === null) return undefined;
  return Math.round(Number(match[1]) * (UNITS[match[2] as string] as number));
}

const SIZE_UNITS: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

export function parseSize(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const match = /^(\d+)\s*([kmg]?)b?$/i.exec(value.trim());
  if (match === null) return undefined;
  return Number(match[1]) * (SIZE_UNITS[(match[2] as string).toLowerCase()] as number);
}

function port(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n >= 1 && n <= 65535 ? n : undefined;
}

function parseListen(value: unknown): ListenAddress | undefined {
  if (typeof value === 'number') {
    return Number.isInteger(value) && value >= 0 && value <= 65535 ? { host: undefined, port: value } : undefined;
  }
  if (typeof value !== 'string') return undefined;
  const bare = /^\d+$/.test(value) ? { host: undefined, port: Number(value) } : undefined;
  if (bare !== undefined) return bare.port <= 65535 ? bare : undefined;
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):(\d+)$/.exec(value);
  if (match === null) return undefined;
  const host = match[1] ?? match[2] ?? '';
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  // Port 0 is allowed on listeners: the OS picks one (tests and benches use it).
  const p = match[3] === '0' ? 0 : port(match[3] ?? '');
  return p === undefined ? undefined : { host, port: p };
}

export function parseCidr(text: string): Cidr | undefined {
  const [address = '', prefixText, extra] = text.split('/');
  if (extra !== undefined) return undefined;
  const version = isIP(address);
  if (version === 0) return undefined;
  const max = version === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? max : /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
  if (!(prefix >= 0 && prefix <= max)) return undefined;
  return { address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' };
}

function parseTarget(text: string): TargetConfig | undefined {
  const withScheme = /^[a-z]+:\/\//i.test(text) ? text : `http://${text}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.pathname !== '/' || url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') return undefined;
  if (url.hostname === '') return undefined;
  const defaultPort = url.protocol === 'https:' ? 443 : 80;
  const p = url.port === '' ? defaultPort : Number(url.port);
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  const shown = host.includes(':') ? `[${host}]` : host;
  return { id: `${url.protocol}//${shown}:${p}`, protocol: url.protocol, host, port: p, tls: null };
}

/** Host names as sites list them: lower-case DNS names, IP literals, or "*.suffix". */
export function isSiteHost(host: string): boolean {
  if (isIP(host) !== 0) return true;
  const name = host.startsWith('*.') ? host.slice(2) : host;
  return /^(?=.{1,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*$/.test(name);
}

function suggest(key: string, keys: readonly string[]): string {
  const lower = key.toLowerCase();
  const close = keys.find((k) => k.toLowerCase() === lower || distance(k.toLowerCase(), lower) <= 2);
  return close === undefined ? ` (allowed: ${keys.join(', ')})` : ` (did you mean "${close}"?)`;
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let previous = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const current = row[j] as number;
      row[j] = Math.min(current + 1, (row[j - 1] as number) + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1));
      previous = current;
    }
  }
  return row[b.length] as number;
}

/** Read a CA certificate file named by a config key; `hint` says what it is for when it cannot be read. */
export function readCaFile(r: Reader, file: string, path: Path, hint: string): string | null {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    r.error(path, `cannot read ${file} (${code}): ${hint}`);
    return null;
  }
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no certificate');
    new X509Certificate(pem);
  } catch {
    r.error(path, `${file} holds no PEM certificate: ${path.join('.')} needs the CA certificate ("-----BEGIN CERTIFICATE-----"), not a key`);
    return null;
  }
  return pem;
}
