import { generateKeyPairSync } from 'node:crypto';
import { Agent } from 'node:https';
import type { Client } from 'acme-client';
import type { AcmeConfig } from '../../config/types.js';
import { getJson } from './ari.js';
import type { AcmeStorage } from './storage.js';

/** The parts of an RFC 8555 §7.1.1 directory Gatehouse reads itself (acme-client reads the rest). */
export interface Directory {
  readonly renewalInfo: string | undefined;
}

type AcmeLib = typeof import('acme-client');

/** One P-256 key as PKCS#8 PEM: the account key and every certificate key (small, fast, accepted by every public CA). */
function newKey(): string {
  return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
}

/**
 * The conversation with the CA, through acme-client: account (created once, then reused from
 * storage), order, challenge, finalize, download. It only writes files: challenge tokens while
 * an order is open, the account, and nothing else — the caller stores the pair.
 */
export class AcmeCa {
  readonly #config: AcmeConfig;
  readonly #storage: AcmeStorage;
  readonly agent: Agent;
  #lib: Promise<AcmeLib> | undefined;
  #eject: () => void = () => undefined;

  constructor(config: AcmeConfig, storage: AcmeStorage) {
    this.#config = config;
    this.#storage = storage;
    this.agent = new Agent(config.ca === null ? {} : { ca: config.ca });
  }

  close(): void {
    this.#eject();
    this.agent.destroy();
  }

  /** acme-client is loaded on the first order: workers and restarts with nothing due never pay its start-up cost. */
  #load(): Promise<AcmeLib> {
    this.#lib ??= import('acme-client').then((lib) => {
      // acme-client sends through one shared axios instance: an interceptor gives requests to our
      // CA's origin our trust, and comes off again in close(), so other configs are untouched.
      const origin = new URL(this.#config.directory).origin;
      const agent = this.agent;
      const id = lib.axios.interceptors.request.use((request) => {
        if (request.url !== undefined && new URL(request.url).origin === origin) request.httpsAgent = agent;
        return request;
      });
      this.#eject = () => lib.axios.interceptors.request.eject(id);
      // One try per request: Gatehouse's own backoff (1 min doubling to 1 d) decides when to come back.
      const settings = (lib.axios.defaults as { acmeSettings?: { retryMaxAttempts: number } }).acmeSettings;
      if (settings !== undefined) settings.retryMaxAttempts = 1;
      return lib;
    });
    return this.#lib;
  }

  /** Fetch the directory: proves the CA answers, and says whether it offers ARI (RFC 9773 §3). */
  async directory(): Promise<Directory> {
    const res = await getJson(this.#config.directory, this.agent);
    if (res.status !== 200 || res.body === null || typeof res.body !== 'object' || !('newOrder' in res.body)) {
      throw new Error(`${this.#config.directory}: not an ACME directory (HTTP ${res.status})`);
    }
    const info = (res.body as { renewalInfo?: unknown }).renewalInfo;
    return { renewalInfo: typeof info === 'string' ? info : undefined };
  }

  /** Order a certificate for `host`; resolves with the PEM chain and its key. */
  async order(host: string): Promise<{ fullchain: string; key: string }> {
    const lib = await this.#load();
    const client = await this.#client(lib);
    const key = newKey();
    const [, csr] = await lib.crypto.createCsr({ commonName: host, altNames: [host] }, key);
    const wanted = this.#config.challenge;
    const fullchain = await client.auto({
      csr,
      ...(this.#config.email === null ? {} : { email: this.#config.email }),
      termsOfServiceAgreed: true,
      challengePriority: [wanted],
      // acme-client's self-check dials the host's public address; the CA's own check is the one that counts.
      skipChallengeVerification: true,
      challengeCreateFn: async (authz, challenge, keyAuthorization) => {
        if (challenge.type !== wanted) throw new Error(`the CA does not offer ${wanted} for ${authz.identifier.value}`);
        if (wanted === 'http-01') await this.#storage.write(this.#storage.httpTokenPath(challenge.token), keyAuthorization);
        else {
          const [alpnKey, alpnCert] = await lib.crypto.createAlpnCertificate(authz, keyAuthorization, newKey());
          await this.#storage.write(this.#storage.alpnPath(authz.identifier.value), `${alpnCert.toString().trim()}\n${alpnKey.toString().trim()}\n`, 0o600);
        }
      },
      challengeRemoveFn: async (authz, challenge) => {
        await this.#storage.remove(wanted === 'http-01' ? this.#storage.httpTokenPath(challenge.token) : this.#storage.alpnPath(authz.identifier.value));
      },
    });
    return { fullchain, key };
  }

  /** The stored account key (made once, mode 0600) and, for the same directory, the account URL. */
  async #client(lib: AcmeLib): Promise<Client> {
    const s = this.#storage;
    let accountKey = (await s.read(s.accountKeyPath))?.toString();
    if (accountKey === undefined) {
      accountKey = newKey();
      await s.write(s.accountKeyPath, accountKey, 0o600);
    }
    const saved = await s.read(s.accountPath);
    let accountUrl: string | undefined;
    try {
      const account = saved === undefined ? undefined : (JSON.parse(saved.toString()) as { directory?: unknown; url?: unknown });
      if (account?.directory === this.#config.directory && typeof account.url === 'string') accountUrl = account.url;
    } catch {
      accountUrl = undefined; // unreadable: newAccount with the same key finds the account again (RFC 8555 §7.3.1)
    }
    const client = new lib.Client({
      directoryUrl: this.#config.directory, accountKey,
      ...(accountUrl === undefined ? {} : { accountUrl }),
      // Poll order and challenge status every 1-10 s rather than 5-30 s: validation takes seconds.
      backoffMin: 1000, backoffMax: 10_000, backoffAttempts: 12,
    });
    if (accountUrl === undefined) {
      try {
        await client.createAccount({ termsOfServiceAgreed: true, ...(this.#config.email === null ? {} : { contact: [`mailto:${this.#config.email}`] }) });
      } catch (err) {
        // A known key without account.json: the CA answers 200 with the account URL, and acme-client's
        // follow-up empty update may be refused (RFC 8555 §7.3.1 allows POST-as-GET only). The URL is what we need.
        if (!hasAccountUrl(client)) throw err;
      }
      await s.write(s.accountPath, `${JSON.stringify({ directory: this.#config.directory, url: client.getAccountUrl() })}\n`);
    }
    return client;
  }
}

function hasAccountUrl(client: Client): boolean {
  try {
    return client.getAccountUrl() !== '';
  } catch {
    return false;
  }
}
