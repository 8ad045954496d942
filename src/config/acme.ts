import { isIP } from 'node:net';
import { resolve } from 'node:path';
import type { AcmeChallengeType, AcmeConfig, ListenConfig, SiteConfig } from './types.js';
import { DEFAULTS } from './defaults.js';
import { field, given, keysOf, list, object, oneOf, string } from './shape.js';
import { isSiteHost, readCaFile, type Reader } from './values.js';

const CHALLENGES: readonly AcmeChallengeType[] = ['http-01', 'tls-alpn-01'];
const d = DEFAULTS.tls.acme;

/** `tls.acme` (false or absent: off). */
export const ACME = object({
  directory: string(d.directory, '^https://'),
  email: string(d.email),
  storage: string(d.storage),
  hosts: list(string(), { minItems: 1 }),
  ca: string(d.ca),
  challenge: oneOf(CHALLENGES, d.challenge),
  // Checked against the directory's meta.profiles when ordering: the CA says which it offers.
  profile: string(d.profile, '^[A-Za-z0-9._-]+$'),
}, { orBoolean: 'false' });

export interface AcmeContext {
  /** Folder of the config file: storage and ca are relative to it. */
  readonly dir: string;
  readonly sites: readonly SiteConfig[];
  readonly listen: ListenConfig;
  /** How many tls.certificates are configured (0: acme must cover every site host). */
  readonly certificates: number;
}

/**
 * A name a public CA can issue for: a DNS name with a dot, no wildcard (those need DNS-01,
 * which Gatehouse does not do), no IP address, nothing under .localhost (RFC 6761 §6.3).
 */
function isOrderableName(host: string): boolean {
  return isIP(host) === 0 && !host.includes('*') && host.includes('.') && host !== 'localhost' && !host.endsWith('.localhost') && isSiteHost(host);
}

/** `tls.acme`; null when absent. Defaults: Let's Encrypt production, storage "acme" next to the config, http-01. */
export function readAcme(r: Reader, raw: unknown, ctx: AcmeContext): AcmeConfig | null {
  if (raw === undefined || raw === null || raw === false) return null;
  const path = ['tls', 'acme'];
  const o = r.object(raw, path, keysOf(ACME)) ?? {};
  const directory = field(r, o, path, 'directory', ACME.keys.directory);
  let url: URL | undefined;
  try {
    url = new URL(directory);
  } catch {
    url = undefined;
  }
  // RFC 8555 §6.1: ACME runs over HTTPS only.
  if (url?.protocol !== 'https:') r.error([...path, 'directory'], 'expected the https:// URL of an ACME directory, e.g. https://acme-v02.api.letsencrypt.org/directory');
  let email: string | null = null;
  if (o.email !== undefined && o.email !== null) {
    const given = r.string(o.email, [...path, 'email']);
    if (given !== undefined && !/^[^@\s:]+@[^@\s:]+\.[^@\s:]+$/.test(given)) r.error([...path, 'email'], 'expected an e-mail address such as ops@example.com');
    else if (given !== undefined) email = given;
  }
  const storage = resolve(ctx.dir, field(r, o, path, 'storage', ACME.keys.storage));
  let ca: string | null = null;
  if (o.ca !== undefined && o.ca !== null) {
    const given = r.string(o.ca, [...path, 'ca']);
    if (given !== undefined) ca = readCaFile(r, resolve(ctx.dir, given), [...path, 'ca'], 'point tls.acme.ca at the PEM file of the CA that signed the ACME directory\'s HTTPS certificate');
  }
  const chosen = given(r, o, path, 'challenge', ACME.keys.challenge);
  const challenge = chosen ?? ACME.keys.challenge.fallback;
  if (chosen === 'http-01' && ctx.listen.http === null) {
    r.error([...path, 'challenge'], 'http-01 is answered on listen.http, which is disabled: enable listen.http or use challenge: tls-alpn-01');
  }
  const siteHosts = ctx.sites.flatMap((s) => s.hosts);
  let hosts: string[];
  if (o.hosts === undefined) {
    hosts = siteHosts.filter(isOrderableName);
    if (hosts.length === 0) r.error(path, 'no site host is a public DNS name to order a certificate for: list them in tls.acme.hosts');
  } else {
    hosts = [];
    (r.list(o.hosts, [...path, 'hosts']) ?? []).forEach((h, i) => {
      const host = r.string(h, [...path, 'hosts', i])?.toLowerCase();
      if (host === undefined) return;
      if (!isOrderableName(host)) return void r.error([...path, 'hosts', i], `"${host}" cannot be ordered: expected a DNS name such as app.example.com (no wildcard, IP or localhost)`);
      if (hosts.includes(host)) return void r.error([...path, 'hosts', i], `host ${host} is listed twice`);
      if (!siteHosts.includes(host)) r.warn([...path, 'hosts', i], `no site serves ${host}: its certificate would only be stored`);
      hosts.push(host);
    });
    if (hosts.length === 0) r.error([...path, 'hosts'], 'list at least one host, or leave hosts out to order for every site host');
  }
  if (ctx.certificates === 0) {
    ctx.sites.forEach((site, i) => site.hosts.forEach((host, j) => {
      if (!hosts.includes(host)) r.warn(['sites', i, 'hosts', j], `${host} has no certificate: tls.certificates is empty and tls.acme does not order it (clients get a handshake failure)`);
    }));
  }
  let profile: string | null = null;
  if (o.profile !== undefined && o.profile !== null) {
    const given = r.string(o.profile, [...path, 'profile']);
    if (given !== undefined && !/^[A-Za-z0-9._-]+$/.test(given)) r.error([...path, 'profile'], 'expected a profile name such as shortlived, tlsserver or classic');
    else if (given !== undefined) profile = given;
  }
  return { directory, email, storage, hosts, ca, challenge, profile };
}
