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
  | { readonly outcome: 'swapped'; readonly previous: CertPair; readonly current: CertPair; readonly lostNames: readonly string[] }
  | { readonly outcome: 'unchanged'; readonly current: CertPair }
  | { readonly outcome: 'failed'; readonly current: CertPair; readonly error: EdgeError };

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

/**
 * The single owner of SecureContexts. Holds the last good pair per configured certificate,
 * answers SNI by exact name then one-label wildcard (RFC 6125 §6.4.3), and falls back to the
 * first certificate for clients without SNI or with a name nobody serves.
 */
export class CertStore {
  #pairs: CertPair[];
  #exact = new Map<string, CertPair>();
  #wildcard = new Map<string, CertPair>();
  readonly #settings: ContextSettings;
  readonly #listeners = new Set<(pairs: readonly CertPair[]) => void>();

  private constructor(pairs: CertPair[], settings: ContextSettings) {
    this.#pairs = pairs;
    this.#settings = settings;
    this.#index();
  }

  /** Load every configured pair; any failure rejects (at startup there is no old pair to keep). */
  static async load(tls: TlsConfig, ticketKeys?: Buffer): Promise<CertStore> {
    const settings: ContextSettings = { minVersion: tls.minVersion, ciphers: tls.ciphers, groups: keyExchangeGroups(), ...(ticketKeys ? { ticketKeys } : {}) };
    const pairs = await Promise.all(tls.certificates.map((p) => readPair(p, settings)));
    return new CertStore(pairs, settings);
  }

  get pairs(): readonly CertPair[] {
    return this.#pairs;
  }

  get settings(): ContextSettings {
    return this.#settings;
  }

  /** Options for the listener's own (no-SNI) context: the first certificate. */
  get defaultPair(): CertPair {
    return this.#pairs[0] as CertPair;
  }

  contextFor(servername: string): SecureContext {
    const name = servername.toLowerCase();
    const pair = this.#exact.get(name) ?? this.#wildcard.get(name.slice(name.indexOf('.') + 1)) ?? this.#pairs[0];
    return (pair as CertPair).context;
  }

  /** Called with the new list after every swap; returns the remover. */
  onSwap(listener: (pairs: readonly CertPair[]) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Re-read pair `index` from disk; swap only if it changed and passes every check. */
  async refresh(index: number, now = Date.now()): Promise<RefreshResult> {
    const previous = this.#pairs[index];
    if (previous === undefined) throw new RangeError(`no certificate #${index}`);
    let next: CertPair;
    try {
      next = await readPair(previous.paths, this.#settings, now);
    } catch (err) {
      const error = err instanceof EdgeError ? err : new EdgeError('EDGE_ERR_CERT', String(err), err);
      return { outcome: 'failed', current: this.#pairs[index] as CertPair, error };
    }
    const current = this.#pairs[index] as CertPair;
    if (next.fingerprint256 === current.fingerprint256) return { outcome: 'unchanged', current };
    this.#pairs = this.#pairs.map((p, i) => (i === index ? next : p));
    this.#index();
    for (const listener of this.#listeners) listener(this.#pairs);
    return { outcome: 'swapped', previous: current, current: next, lostNames: current.names.filter((n) => !next.names.includes(n)) };
  }

  #index(): void {
    const exact = new Map<string, CertPair>();
    const wildcard = new Map<string, CertPair>();
    for (const pair of this.#pairs) {
      for (const name of pair.names) {
        const table = name.startsWith('*.') ? wildcard : exact;
        const key = name.startsWith('*.') ? name.slice(2) : name;
        if (!table.has(key)) table.set(key, pair); // first configured certificate wins a shared name
      }
    }
    this.#exact = exact;
    this.#wildcard = wildcard;
  }
}
