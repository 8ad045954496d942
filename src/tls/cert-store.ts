import { createPrivateKey, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { CertificatePaths, TlsConfig } from '../config/types.js';
import { EdgeError } from '../errors.js';
import { keyExchangeGroups } from './groups.js';

/** A checked key/certificate pair and the SecureContext built from it. */
export interface CertPair {
  readonly paths: CertificatePaths;
  /** Lower-case DNS names from the SANs (CN when there are none); "*.x" for wildcards. */
  readonly names: readonly string[];
  readonly serial: string;
  readonly fingerprint256: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly options: SecureContextOptions;
  readonly context: SecureContext;
}

export type RefreshResult =
  | { readonly outcome: 'swapped'; readonly previous: CertPair | undefined; readonly current: CertPair; readonly lostNames: readonly string[] }
  | { readonly outcome: 'unchanged'; readonly current: CertPair }
  | { readonly outcome: 'failed'; readonly current: CertPair | undefined; readonly error: EdgeError }
  /** A stored (ACME) slot whose files do not exist yet: nothing to serve, nothing wrong. */
  | { readonly outcome: 'absent'; readonly current: undefined };

/** One certificate the store serves: configured ones must load; stored (ACME) ones may not exist yet. */
interface Slot {
  readonly paths: CertificatePaths;
  readonly stored: boolean;
  readonly pair: CertPair | undefined;
}

/** TLS settings every context gets, so a swap can never lower the floor the config set. */
export interface ContextSettings {
  readonly minVersion: TlsConfig['minVersion'];
  readonly ciphers: string;
  /** Key-exchange groups, most preferred first (tls/groups.ts). */
  readonly groups: readonly string[];
  /** 48 bytes shared by all contexts (and workers) so session tickets resume anywhere. */
  readonly ticketKeys?: Buffer;
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    const hint = code === 'ENOENT' ? `no such file; check tls.certificates[].${what} (paths are relative to the config file)`
      : code === 'EACCES' ? 'permission denied; the gatehouse user must be able to read it' : `cannot read it (${code})`;
    throw new EdgeError('EDGE_ERR_CERT', `${path}: ${hint}`, err);
  }
}

function namesOf(x509: X509Certificate): string[] {
  const san = x509.subjectAltName;
  if (san !== undefined && san !== '') {
    return san.split(', ').filter((e) => e.startsWith('DNS:')).map((e) => e.slice(4).toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(x509.subject)?.[1];
  return cn === undefined ? [] : [cn.toLowerCase()];
}

/**
 * Read and check one pair: both PEMs parse, the key belongs to the certificate, and the
 * certificate is valid now. Throws EdgeError(EDGE_ERR_CERT) naming the file and the fix.
 */
export async function readPair(paths: CertificatePaths, settings: ContextSettings, now = Date.now()): Promise<CertPair> {
  // Read both before checking either: a renewal in flight shows up as a mismatch, not a half-pair.
  const [certRead, keyRead] = await Promise.allSettled([readPem(paths.cert, 'cert'), readPem(paths.key, 'key')]);
  if (certRead.status === 'rejected') throw certRead.reason; // the certificate's problem is reported first
  if (keyRead.status === 'rejected') throw keyRead.reason;
  const certPem = certRead.value;
  const keyPem = keyRead.value;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(certPem);
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: not a PEM certificate (${certPem.length === 0 ? 'file is empty' : (err as Error).message})`, err);
  }
  // Every block of the chain must be whole: a half-written fullchain often has an intact leaf.
  const text = certPem.toString('latin1');
  const begins = text.split('-----BEGIN CERTIFICATE-----').length - 1;
  const ends = text.split('-----END CERTIFICATE-----').length - 1;
  if (begins !== ends) throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: not a PEM certificate chain (a block is cut short: file half-written?)`);
  for (const block of text.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? []) {
    try {
      void new X509Certificate(block);
    } catch (err) {
      throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: not a PEM certificate chain (a block does not parse: ${(err as Error).message})`, err);
    }
  }
  let matches: boolean;
  try {
    matches = x509.checkPrivateKey(createPrivateKey(keyPem));
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CERT', `${paths.key}: not a PEM private key (${keyPem.length === 0 ? 'file is empty' : (err as Error).message})`, err);
  }
  if (!matches) throw new EdgeError('EDGE_ERR_CERT', `${paths.key}: private key does not match certificate ${paths.cert}`);
  const notBefore = new Date(x509.validFrom);
  const notAfter = new Date(x509.validTo);
  if (notAfter.getTime() <= now) throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: certificate expired on ${notAfter.toISOString()}; renew it`);
  if (notBefore.getTime() > now) throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: certificate is not valid until ${notBefore.toISOString()} (check the clock)`);
  const options: SecureContextOptions = {
    cert: certPem, key: keyPem, minVersion: settings.minVersion, ciphers: settings.ciphers, ecdhCurve: settings.groups.join(':'),
    ...(settings.ticketKeys === undefined ? {} : { ticketKeys: settings.ticketKeys }),
  };
  let context: SecureContext;
  try {
    context = createSecureContext(options);
  } catch (err) {
    throw new EdgeError('EDGE_ERR_CERT', `${paths.cert}: OpenSSL refused the pair (${(err as Error).message})`, err);
  }
  return {
    paths, names: namesOf(x509), serial: x509.serialNumber, fingerprint256: x509.fingerprint256,
    notBefore, notAfter, options, context,
  };
}

function missing(err: EdgeError): boolean {
  return (err.cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * The single owner of SecureContexts. Holds the last good pair per certificate slot — the
 * configured ones first, then those ACME stores — and answers SNI by exact name then one-label
 * wildcard (RFC 6125 §6.4.3), the first slot winning a shared name, so configured certificates
 * win over stored ones. Clients without SNI, or with a name nobody serves, get the first pair.
 */
export class CertStore {
  #slots: Slot[];
  #exact = new Map<string, CertPair>();
  #wildcard = new Map<string, CertPair>();
  /** pairs[0], kept by #index() so a handshake without a known name does not build the list. */
  #default: CertPair | undefined;
  readonly #settings: ContextSettings;
  readonly #listeners = new Set<(pairs: readonly CertPair[]) => void>();

  private constructor(slots: Slot[], settings: ContextSettings) {
    this.#slots = slots;
    this.#settings = settings;
    this.#index();
  }

  /**
   * Load every configured pair (any failure rejects: at startup there is no old pair to keep),
   * then the `stored` ones (ACME's), which may be missing or unusable: they are retried on change.
   */
  static async load(tls: TlsConfig, ticketKeys?: Buffer, stored: readonly CertificatePaths[] = []): Promise<CertStore> {
    const settings: ContextSettings = { minVersion: tls.minVersion, ciphers: tls.ciphers, groups: keyExchangeGroups(), ...(ticketKeys ? { ticketKeys } : {}) };
    const pairs = await Promise.all(tls.certificates.map((p) => readPair(p, settings)));
    const extra = await Promise.all(stored.map((p) => readPair(p, settings).catch(() => undefined)));
    const slots: Slot[] = [
      ...pairs.map((pair) => ({ paths: pair.paths, stored: false, pair })),
      ...stored.map((paths, i) => ({ paths, stored: true, pair: extra[i] })),
    ];
    return new CertStore(slots, settings);
  }

  /** Every pair being served, in slot order. */
  get pairs(): readonly CertPair[] {
    return this.#slots.flatMap((s) => (s.pair === undefined ? [] : [s.pair]));
  }

  /** Every slot's files, served or not yet (what the watcher watches; refresh() takes these indexes). */
  get paths(): readonly CertificatePaths[] {
    return this.#slots.map((s) => s.paths);
  }

  /** Names the configured certificates cover (ACME does not order for these). */
  get configuredNames(): readonly string[] {
    return this.#slots.flatMap((s) => (s.stored || s.pair === undefined ? [] : s.pair.names));
  }

  get settings(): ContextSettings {
    return this.#settings;
  }

  /** The listener's own (no-SNI) pair: the first one served; undefined before ACME's first issuance. */
  get defaultPair(): CertPair | undefined {
    return this.#default;
  }

  /** The pair SNI `servername` gets: exact name, then one-label wildcard, then the default. */
  pairFor(servername: string): CertPair | undefined {
    const name = servername.toLowerCase();
    return this.#exact.get(name) ?? this.#wildcard.get(name.slice(name.indexOf('.') + 1)) ?? this.defaultPair;
  }


  /** Called with the new list after every swap; returns the remover. */
  onSwap(listener: (pairs: readonly CertPair[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-read slot `index` from disk; swap only if it changed and passes every check. */
  async refresh(index: number, now = Date.now()): Promise<RefreshResult> {
    const slot = this.#slots[index];
    if (slot === undefined) throw new RangeError(`no certificate #${index}`);
    let next: CertPair;
    try {
      next = await readPair(slot.paths, this.#settings, now);
    } catch (err) {
      const error = err instanceof EdgeError ? err : new EdgeError('EDGE_ERR_CERT', String(err), err);
      const current = this.#slots[index]?.pair;
      if (current === undefined && slot.stored && missing(error)) return { outcome: 'absent', current };
      return { outcome: 'failed', current, error };
    }
    const current = this.#slots[index]?.pair;
    if (current !== undefined && next.fingerprint256 === current.fingerprint256) return { outcome: 'unchanged', current };
    this.#slots = this.#slots.map((s, i) => (i === index ? { ...s, pair: next } : s));
    this.#index();
    const pairs = this.pairs;
    for (const listener of this.#listeners) listener(pairs);
    return { outcome: 'swapped', previous: current, current: next, lostNames: current?.names.filter((n) => !next.names.includes(n)) ?? [] };
  }

  #index(): void {
    const exact = new Map<string, CertPair>();
    const wildcard = new Map<string, CertPair>();
    for (const pair of this.pairs) {
      for (const name of pair.names) {
        const table = name.startsWith('*.') ? wildcard : exact;
        const key = name.startsWith('*.') ? name.slice(2) : name;
        if (!table.has(key)) table.set(key, pair); // the first slot wins a shared name: configured before stored
      }
    }
    this.#exact = exact;
    this.#wildcard = wildcard;
    this.#default = this.pairs[0];
  }
}
