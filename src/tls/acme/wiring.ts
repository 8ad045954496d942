import { X509Certificate } from 'node:crypto';
import type { AcmeConfig, CertificatePaths } from '../../config/types.js';
import { EdgeError } from '../../errors.js';
import type { ContextSettings } from '../cert-store.js';
import { alpnChallengeResponder, httpChallengeResponder, type AcmeChallenge, type AlpnChallengeHook } from './responders.js';
import { EMPTY_HOST, thirdLeft } from './state.js';
import { AcmeStorage } from './storage.js';

/** Per host, what the gatehouse_acme_* metrics show (seconds since the epoch; null: never or unknown). */
export interface AcmeHostMetric {
  readonly host: string;
  readonly lastSuccess: number | null;
  readonly failuresTotal: number;
  readonly nextRenewal: number | null;
}

/** What a serving edge needs from tls.acme, whether or not this process talks to the CA. */
export interface AcmeResponders {
  readonly http: AcmeChallenge | undefined;
  readonly alpn: AlpnChallengeHook | undefined;
  /** Read from storage at scrape time, so every worker and instance reports the same figures. */
  metrics(): Promise<readonly AcmeHostMetric[]>;
}

/** The certificate slots storage holds, one per host (empty until issued). */
export function acmePaths(acme: AcmeConfig | null): CertificatePaths[] {
  if (acme === null) return [];
  const storage = new AcmeStorage(acme.storage);
  return acme.hosts.map((h) => storage.certPaths(h));
}

/** Make the storage folders; an unwritable storage is a start-up error naming the folder and the fix. */
export async function prepareAcme(acme: AcmeConfig | null): Promise<void> {
  if (acme === null) return;
  try {
    await new AcmeStorage(acme.storage).prepare(acme.hosts);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? String(err);
    throw new EdgeError('EDGE_ERR_CERT', `tls.acme.storage ${acme.storage}: cannot create it (${code}); the gatehouse user must be able to write there`, err);
  }
}

export function acmeResponders(acme: AcmeConfig | null, settings: ContextSettings, previous?: AcmeResponders): AcmeResponders {
  if (acme === null) return { http: undefined, alpn: previous?.alpn, metrics: async () => [] };
  const storage = new AcmeStorage(acme.storage);
  return {
    http: acme.challenge === 'http-01' ? httpChallengeResponder(storage) : undefined,
    // The :443 listener holds its ALPN hook for life: a reload keeps the first one.
    alpn: previous?.alpn ?? (acme.challenge === 'tls-alpn-01' ? alpnChallengeResponder(storage, settings) : undefined),
    metrics: async () => {
      const state = await storage.readState().catch(() => ({}) as Record<string, undefined>);
      return Promise.all(acme.hosts.map(async (host) => {
        const s = state[host] ?? EMPTY_HOST;
        let next: number | null = s.failures > 0 ? s.nextAttempt : s.renewAt;
        if (next === null) {
          const pem = await storage.read(storage.certPaths(host).cert).catch(() => undefined);
          try {
            const x509 = pem === undefined ? undefined : new X509Certificate(pem);
            next = x509 === undefined ? null : thirdLeft(Date.parse(x509.validFrom), Date.parse(x509.validTo));
          } catch {
            next = null;
          }
        }
        const seconds = (ms: number | null): number | null => (ms === null ? null : Math.round(ms / 1000));
        return { host, lastSuccess: seconds(s.lastSuccess), failuresTotal: s.failuresTotal, nextRenewal: seconds(next) };
      }));
    },
  };
}
