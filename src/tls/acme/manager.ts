import { X509Certificate } from 'node:crypto';
import type { AcmeConfig } from '../../config/types.js';
import type { Logger } from '../../log.js';
import { ariCertId, getJson, parseRenewalInfo } from './ari.js';
import { AcmeCa, type Directory } from './order.js';
import { backoffMs, EMPTY_HOST, inWindow, thirdLeft, type AcmeState, type HostState } from './state.js';
import { AcmeStorage } from './storage.js';

/** The longest the manager sleeps: storage may change under it (another instance, an operator). */
const MAX_SLEEP_MS = 3_600_000;
/** Retry soon when another instance holds the lock: it is ordering, and may finish our host too. */
const LOCKED_RETRY_MS = 5000;
/** When the CA cannot say (directory down), ask renewalInfo again after this. */
const ARI_RETRY_MS = 3_600_000;

export interface AcmeManagerOptions {
  /** Names configured certificates cover: never ordered (configured certificates win). */
  readonly covered: () => readonly string[];
}

interface Stored {
  readonly serial: string;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly pem: Buffer;
}

export type ManagerState = 'idle' | 'running' | 'stopped';

/**
 * Obtains and renews one certificate per `tls.acme.hosts` entry, writing them into storage,
 * where the certificate watcher picks them up like any other file. Only one process per
 * machine runs this (the primary with `workers`); instances sharing storage take turns by lock.
 */
export class AcmeManager {
  readonly storage: AcmeStorage;
  readonly #config: AcmeConfig;
  readonly #log: Logger;
  readonly #options: AcmeManagerOptions;
  readonly #ca: AcmeCa;
  #state: ManagerState = 'idle';
  #timer: NodeJS.Timeout | undefined;
  #round: Promise<void> = Promise.resolve();

  constructor(config: AcmeConfig, log: Logger, options: AcmeManagerOptions) {
    this.#config = config;
    this.#log = log.child({ component: 'acme' });
    this.#options = options;
    this.storage = new AcmeStorage(config.storage);
    this.#ca = new AcmeCa(config, this.storage);
  }

  /** First round at once: hosts without a stored certificate are ordered within seconds of start. */
  start(): void {
    if (this.#state !== 'idle') return;
    this.#state = 'running';
    this.#schedule(0);
  }

  /** Idempotent; waits up to 5 s for a round in progress (each file it writes is atomic either way). */
  async stop(): Promise<void> {
    if (this.#state === 'stopped') return;
    this.#state = 'stopped';
    clearTimeout(this.#timer);
    // A slow CA must not hold a drain: wait up to 5 s; an order finishing later still only writes files.
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.#round, new Promise((r) => { timer = setTimeout(r, 5000); })]);
    clearTimeout(timer);
    this.#ca.close();
  }

  #schedule(ms: number): void {
    if (this.#state !== 'running') return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#round = this.#roundOnce().then((next) => this.#schedule(next), (err: unknown) => {
        this.#log.error({ event: 'acme', err: (err as Error).message }, 'acme round failed unexpectedly');
        this.#schedule(LOCKED_RETRY_MS);
      });
    }, Math.max(0, Math.min(ms, MAX_SLEEP_MS)));
    this.#timer.unref();
  }

  /** One pass over every host; returns how long to sleep before the next. */
  async #roundOnce(): Promise<number> {
    const hosts = this.#hosts();
    const now = Date.now();
    const due = await this.#due(hosts, await this.storage.readState(), now);
    if (due.hosts.length === 0) return due.wake - now;
    const release = await this.storage.lock();
    if (release === undefined) {
      this.#log.info({ event: 'acme-locked', hosts: due.hosts }, 'another instance holds the acme lock; waiting for it');
      return LOCKED_RETRY_MS;
    }
    try {
      // Re-read under the lock: the instance that held it may have renewed our hosts already.
      const state = await this.storage.readState();
      const again = await this.#due(hosts, state, Date.now());
      // Fetched once per round, when a renewal plan first needs it; null: it failed (already logged).
      let directory: Directory | undefined | null;
      let next: Record<string, HostState> = { ...state };
      for (const host of again.hosts) {
        if (this.#state !== 'running') break;
        const stored = await this.#stored(host);
        const s = next[host] ?? EMPTY_HOST;
        // Expired is due whatever the window says: else the plan is redone, renewalInfo asked, in a loop.
        const needsCert = stored === undefined || Date.now() >= stored.notAfter || Date.now() >= (s.renewSerial === stored.serial && s.renewAt !== null ? s.renewAt : thirdLeft(stored.notBefore, stored.notAfter));
        if (needsCert) {
          next = { ...next, [host]: await this.#attempt(host, s) };
        } else if (stored !== undefined) {
          if (directory === undefined) directory = await this.#ariDirectory();
          next = { ...next, [host]: await this.#plan(host, s, stored, directory) };
        }
        await this.storage.writeState(next);
      }
      return (await this.#due(hosts, next, Date.now())).wake - Date.now();
    } finally {
      await release();
    }
  }

  #hosts(): string[] {
    const covered = new Set(this.#options.covered());
    return this.#config.hosts.filter((h) => !covered.has(h));
  }

  async #stored(host: string): Promise<Stored | undefined> {
    const pem = await this.storage.read(this.storage.certPaths(host).cert);
    if (pem === undefined) return undefined;
    try {
      const x509 = new X509Certificate(pem);
      return { serial: x509.serialNumber, notBefore: Date.parse(x509.validFrom), notAfter: Date.parse(x509.validTo), pem };
    } catch {
      return undefined; // unreadable: order afresh
    }
  }

  /** Hosts that need work now (an order, or a renewal plan for a new certificate), and when the next one does. */
  async #due(hosts: readonly string[], state: AcmeState, now: number): Promise<{ hosts: string[]; wake: number }> {
    const due: string[] = [];
    let wake = now + MAX_SLEEP_MS;
    for (const host of hosts) {
      const s = state[host] ?? EMPTY_HOST;
      const stored = await this.#stored(host);
      let at: number;
      if (stored === undefined || stored.notAfter <= now) at = now;
      else if (s.renewSerial !== stored.serial) at = now; // a new certificate: plan its renewal
      // Expiry wakes us too: a CA's window may open only after it (RFC 9773 does not forbid it).
      else at = Math.min(s.renewAt ?? thirdLeft(stored.notBefore, stored.notAfter), s.ariRecheckAt ?? Infinity, stored.notAfter);
      if (s.failures > 0 && s.nextAttempt !== null) at = Math.max(at, s.nextAttempt);
      if (at <= now) due.push(host);
      else wake = Math.min(wake, at);
    }
    return { hosts: due, wake: due.length > 0 ? now : wake };
  }

  /**
   * The directory, to learn whether the CA offers renewalInfo (RFC 9773 §3). Unreachable, the
   * round's plans fall back to the one-third rule: said once per attempt, in the same `acme-ari`
   * terms as a failing renewalInfo, since the operator sees the same consequence.
   */
  async #ariDirectory(): Promise<Directory | null> {
    try {
      return await this.#ca.directory();
    } catch (err) {
      this.#log.warn({ event: 'acme-ari', directory: this.#config.directory, err: (err as Error).message, retryInMs: ARI_RETRY_MS },
        'ACME directory unreachable; renewing when a third of the lifetime is left, renewalInfo asked again in an hour');
      return null;
    }
  }

  /** When to renew a stored certificate: inside the CA's ARI window when offered, else at two thirds of its life. */
  async #plan(host: string, s: HostState, stored: Stored, directory: Directory | null): Promise<HostState> {
    const now = Date.now();
    const fallback = { ...s, renewAt: thirdLeft(stored.notBefore, stored.notAfter), renewSerial: stored.serial, ariRecheckAt: null };
    if (directory === null) return { ...fallback, renewAt: s.renewSerial === stored.serial ? s.renewAt : fallback.renewAt, ariRecheckAt: now + ARI_RETRY_MS };
    const id = directory.renewalInfo === undefined ? undefined : ariCertId(stored.pem);
    if (directory.renewalInfo === undefined || id === undefined) return fallback;
    try {
      const url = `${directory.renewalInfo.replace(/\/$/, '')}/${id}`;
      const res = await getJson(url, this.#ca.agent);
      const window = parseRenewalInfo(res, now);
      // An answer without a window (a 500, a 404, garbage) is as unavailable as no answer: said in the log, not silent.
      if (window === undefined) throw new Error(`${url}: HTTP ${res.status}${res.status === 200 ? ' without a usable suggestedWindow' : ''}`);
      const renewAt = inWindow(window.start, window.end, now);
      this.#log.info({ event: 'acme-ari', host, serial: stored.serial, window: { start: new Date(window.start).toISOString(), end: new Date(window.end).toISOString() }, renewAt: new Date(renewAt).toISOString() }, 'renewal planned inside the CA\'s ARI window');
      return { ...s, renewAt, renewSerial: stored.serial, ariRecheckAt: window.recheckAt };
    } catch (err) {
      this.#log.warn({ event: 'acme-ari', host, err: (err as Error).message }, 'renewalInfo unavailable; renewing when a third of the lifetime is left');
      return { ...fallback, ariRecheckAt: now + ARI_RETRY_MS };
    }
  }

  /** One order; a failure keeps whatever is stored serving and backs off (1 min doubling to 1 d). */
  async #attempt(host: string, s: HostState): Promise<HostState> {
    const started = Date.now();
    this.#log.info({ event: 'acme-order', host, attempt: s.failures + 1, challenge: this.#config.challenge, directory: this.#config.directory }, 'ordering a certificate');
    try {
      const directory = await this.#ca.directory();
      // A renewal names the certificate it replaces (RFC 9773 §5), where the CA speaks ARI.
      const stored = directory.renewalInfo === undefined ? undefined : await this.#stored(host);
      const replaces = stored === undefined ? undefined : ariCertId(stored.pem);
      const { fullchain, key, replacesDropped } = await this.#ca.order(host, directory, replaces);
      if (replacesDropped) this.#log.warn({ event: 'acme-already-replaced', host, replaces }, 'the CA says this certificate was already replaced: ordered without "replaces"');
      await this.storage.writePair(host, fullchain, key);
      const x509 = new X509Certificate(fullchain);
      this.#log.info({ event: 'acme-issued', host, serial: x509.serialNumber, notAfter: new Date(x509.validTo).toISOString(), tookMs: Date.now() - started }, 'certificate issued and stored');
      // renewSerial stays on the old certificate: the next round plans the new one's renewal (asking ARI).
      return { ...s, failures: 0, orders: s.orders + 1, lastSuccess: Date.now(), lastAttempt: started, nextAttempt: null, lastError: null };
    } catch (err) {
      const failures = s.failures + 1;
      const nextAttempt = Date.now() + backoffMs(failures);
      const message = (err as Error).message;
      this.#log.error({ event: 'acme-failed', host, attempt: failures, err: message, nextAttempt: new Date(nextAttempt).toISOString() }, 'certificate order failed; what is stored keeps serving');
      return { ...s, failures, failuresTotal: s.failuresTotal + 1, orders: s.orders + 1, lastAttempt: started, nextAttempt, lastError: message };
    }
  }
}
