import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { DEFAULTS } from './defaults.js';
import { duration, field, fields, integer, keysOf, list, map, object, oneOf, string, target } from './shape.js';
import type { HealthCheckConfig, TargetConfig, UpstreamConfig, UpstreamTls } from './types.js';
import { isSiteHost, readCaFile, type Path, type Reader } from './values.js';

const d = DEFAULTS.upstream;

const HASH = object({ ipv4Prefix: integer(0, 32, d.hash.ipv4Prefix), ipv6Prefix: integer(0, 128, d.hash.ipv6Prefix) });
const HEALTH_CHECK = object({
  path: string(d.healthCheck.path),
  interval: duration(d.healthCheck.interval, 100),
  timeout: duration(d.healthCheck.timeout, 1),
  type: oneOf(['http', 'websocket'] as const, d.healthCheck.type),
}, { orBoolean: 'false' });
const UPSTREAM_TLS = object({ ca: string(), servername: string() });

/** `upstreams.NAME`. */
export const UPSTREAM = object({
  targets: list(target(), { minItems: 1 }),
  backup: list(target()),
  hash: HASH,
  healthCheck: HEALTH_CHECK,
  maxFails: integer(0, 1_000_000, d.maxFails),
  failTimeout: duration(d.failTimeout),
  keepalive: integer(0, 65_535, d.keepalive),
  keepaliveTimeout: duration(d.keepaliveTimeout, 1),
  tls: UPSTREAM_TLS,
}, { required: ['targets'] });
export const UPSTREAMS = map(UPSTREAM);

export function readUpstreams(r: Reader, raw: unknown, dir: string): Map<string, UpstreamConfig> {
  const result = new Map<string, UpstreamConfig>();
  if (raw === undefined || raw === null) return result;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    r.error(['upstreams'], 'expected a mapping of upstream name → { targets: [...] }');
    return result;
  }
  for (const [name, value] of Object.entries(raw as Record<string, unknown>)) {
    const path = ['upstreams', name];
    const o = r.object(value, path, keysOf(UPSTREAM)) ?? {};
    const tls = readUpstreamTls(r, o.tls, [...path, 'tls'], dir);
    const targetList = r.list(o.targets, [...path, 'targets']) ?? [];
    if (targetList.length === 0) r.error(o.targets === undefined ? path : [...path, 'targets'], 'an upstream needs at least one target, e.g. targets: [127.0.0.1:3000]');
    const targets = readTargets(r, targetList, [...path, 'targets'], dir, tls, []);
    const backup = o.backup === undefined ? [] : readTargets(r, r.list(o.backup, [...path, 'backup']) ?? [], [...path, 'backup'], dir, tls, targets);
    if (o.tls !== undefined && ![...targets, ...backup].some((x) => x.protocol === 'https:')) {
      r.warn([...path, 'tls'], 'tls applies to https:// targets, and this upstream has none');
    }
    const hash = fields(r, r.object(o.hash, [...path, 'hash'], keysOf(HASH)) ?? {}, [...path, 'hash'], HASH);
    let healthCheck: HealthCheckConfig | null = null;
    if (o.healthCheck !== undefined && o.healthCheck !== null && o.healthCheck !== false) {
      const hp = [...path, 'healthCheck'];
      healthCheck = fields(r, r.object(o.healthCheck, hp, keysOf(HEALTH_CHECK)) ?? {}, hp, HEALTH_CHECK);
      if (!healthCheck.path.startsWith('/')) r.error([...hp, 'path'], 'a health check path starts with "/"');
    }
    const k = UPSTREAM.keys;
    result.set(name, {
      name, targets, backup, hash, healthCheck,
      maxFails: field(r, o, path, 'maxFails', k.maxFails),
      failTimeout: field(r, o, path, 'failTimeout', k.failTimeout),
      keepalive: field(r, o, path, 'keepalive', k.keepalive),
      keepaliveTimeout: field(r, o, path, 'keepaliveTimeout', k.keepaliveTimeout),
    });
  }
  return result;
}

/** The entries of `targets` or `backup`: each address once in the upstream (`primaries`: the targets already read, for `backup`). */
function readTargets(r: Reader, items: readonly unknown[], path: Path, dir: string, tls: UpstreamTls | null, primaries: readonly TargetConfig[]): TargetConfig[] {
  const out: TargetConfig[] = [];
  items.forEach((t, i) => {
    const target = r.target(t, [...path, i], dir);
    if (target === undefined) return;
    if (out.some((x) => x.id === target.id)) r.error([...path, i], `target ${target.id} is listed twice`);
    else if (primaries.some((x) => x.id === target.id)) r.error([...path, i], `target ${target.id} is in targets already: a backup takes clients only when no target can`);
    else out.push(target.protocol === 'https:' ? { ...target, tls } : target);
  });
  return out;
}

/** `tls: { ca, servername }` of an upstream; the CA file is read (and checked) now, so a reload picks up a new one. */
function readUpstreamTls(r: Reader, raw: unknown, path: Path, dir: string): UpstreamTls | null {
  if (raw === undefined || raw === null) return null;
  const o = r.object(raw, path, keysOf(UPSTREAM_TLS)) ?? {};
  let ca: string | null = null;
  if (o.ca !== undefined) {
    const given = r.string(o.ca, [...path, 'ca']);
    if (given !== undefined) ca = readCaFile(r, resolve(dir, given), [...path, 'ca'], 'point tls.ca at the PEM file of the CA that signed the upstream\'s certificate');
  }
  let servername: string | null = null;
  if (o.servername !== undefined) {
    const name = r.string(o.servername, [...path, 'servername']);
    if (name !== undefined && (isIP(name) !== 0 || name.includes('*') || !isSiteHost(name.toLowerCase()))) {
      r.error([...path, 'servername'], 'expected a DNS name, e.g. app.internal (the name in the upstream\'s certificate)');
    } else if (name !== undefined) {
      servername = name.toLowerCase();
    }
  }
  return { ca, servername };
}
