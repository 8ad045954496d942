import { generateKeyPairSync } from 'node:crypto';
import { Agent } from 'node:https';
import type { Authorization, Client, Order } from 'acme-client';
import type { AcmeConfig } from '../../config/types.js';
import { getJson } from './ari.js';
import type { AcmeStorage } from './storage.js';

/** The parts of an RFC 8555 §7.1.1 directory Gatehouse reads itself (acme-client reads the rest). */
export interface Directory {
  readonly renewalInfo: string | undefined;
  /** `meta.profiles` names (draft-ietf-acme-profiles); undefined: the CA lists none. */
  readonly profiles: readonly string[] | undefined;
  readonly newOrder: string | undefined;
}

/** RFC 9773 §7.4: the certificate named in `replaces` was already replaced. */
const ALREADY_REPLACED = 'urn:ietf:params:acme:error:alreadyReplaced';

/** What one order brought back. */
export interface Issued {
  readonly fullchain: string;
  readonly key: string;
  /** The CA refused `replaces` as alreadyReplaced, and the certificate was ordered without it. */
  readonly replacesDropped: boolean;
}

type AcmeLib = typeof import('acme-client');
/** RFC 8555 §7.4 newOrder, with draft-ietf-acme-profiles' `profile` and RFC 9773 §5's `replaces`. */
type OrderRequest = Parameters<Client['createOrder']>[0] & { readonly profile?: string; readonly replaces?: string };

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
  /**
   * Origins given our trust: the directory's and every endpoint it names. RFC 8555 §7.1.1 lets
   * the endpoints live elsewhere than the directory (a CA behind a front, an ARI proxy).
   */
  readonly #origins: Set<string>;
  #lib: Promise<AcmeLib> | undefined;
  #eject: () => void = () => undefined;
  /** The problem type of the last refused newOrder (orders are one at a time per CA). */
  #orderProblem: string | undefined;
  #newOrder: string | undefined;

  constructor(config: AcmeConfig, storage: AcmeStorage) {
    this.#config = config;
    this.#storage = storage;
    this.agent = new Agent(config.ca === null ? {} : { ca: config.ca });
    this.#origins = new Set([new URL(config.directory).origin]);
  }

  close(): void {
    this.#eject();
    this.agent.destroy();
  }

  /** acme-client is loaded on the first order: workers and restarts with nothing due never pay its start-up cost. */
  #load(): Promise<AcmeLib> {
    this.#lib ??= import('acme-client').then((lib) => {
      // acme-client sends through one shared axios instance: an interceptor gives requests to our
      // CA's origins our trust, and comes off again in close(), so other configs are untouched.
      const origins = this.#origins;
      const agent = this.agent;
      const id = lib.axios.interceptors.request.use((request) => {
        if (request.url !== undefined && origins.has(new URL(request.url).origin)) request.httpsAgent = agent;
        return request;
      });
      // acme-client keeps only a refusal's detail text; alreadyReplaced is told by its type.
      const seen = lib.axios.interceptors.response.use((response) => {
        if (response.config.url === this.#newOrder && response.status >= 400) this.#orderProblem = (response.data as { type?: string } | undefined)?.type;
        return response;
      });
      this.#eject = () => {
        lib.axios.interceptors.request.eject(id);
        lib.axios.interceptors.response.eject(seen);
      };
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
    for (const value of Object.values(res.body)) {
      if (typeof value === 'string' && URL.canParse(value)) this.#origins.add(new URL(value).origin);
    }
    const body = res.body as { renewalInfo?: unknown; newOrder?: unknown; meta?: { profiles?: unknown } };
    const profiles = body.meta?.profiles;
    this.#newOrder = typeof body.newOrder === 'string' ? body.newOrder : undefined;
    return {
      renewalInfo: typeof body.renewalInfo === 'string' ? body.renewalInfo : undefined,
      profiles: profiles !== null && typeof profiles === 'object' ? Object.keys(profiles) : undefined,
      newOrder: this.#newOrder,
    };
  }

  /**
   * Order a certificate for `host` (after directory(): it names the origins we trust and what the
   * CA offers); resolves with the PEM chain and its key. `replaces` is the ARI CertID of the
   * certificate this renews (RFC 9773 §5); `tls.acme.profile` goes on the order when the CA lists it.
   */
  async order(host: string, directory: Directory, replaces?: string): Promise<Issued> {
    const profile = this.#config.profile;
    if (profile !== null && directory.profiles?.includes(profile) !== true) {
      throw new Error(directory.profiles === undefined
        ? `tls.acme.profile "${profile}": ${this.#config.directory} lists no profiles (meta.profiles); remove the key to get the CA's default`
        : `tls.acme.profile "${profile}" is not offered by ${this.#config.directory} (it offers: ${directory.profiles.join(', ') || 'none'})`);
    }
    const lib = await this.#load();
    const client = await this.#client(lib);
    const key = newKey();
    const [, csr] = await lib.crypto.createCsr({ commonName: host, altNames: [host] }, key);
    const payload: OrderRequest = { identifiers: [{ type: 'dns', value: host }], ...(profile === null ? {} : { profile }) };
    const renewal: OrderRequest = replaces === undefined ? payload : { ...payload, replaces };
    let order: Order;
    let replacesDropped = false;
    try {
      this.#orderProblem = undefined;
      order = await client.createOrder(renewal);
    } catch (err) {
      if (replaces === undefined || this.#orderProblem !== ALREADY_REPLACED) throw err;
      // Replaced already (another instance's order, or one of ours that never finished): a plain new order.
      replacesDropped = true;
      order = await client.createOrder(payload);
    }
    for (const authz of await client.getAuthorizations(order)) {
      if (authz.status !== 'valid') await this.#authorize(lib, client, authz);
    }
    const finalized = await client.finalizeOrder(order, csr);
    return { fullchain: await client.getCertificate(finalized), key, replacesDropped };
  }

  /** Answer one authorization with the configured challenge; a failed one is deactivated (acme-client's auto() does the same). */
  async #authorize(lib: AcmeLib, client: Client, authz: Authorization): Promise<void> {
    const wanted = this.#config.challenge;
    const challenge = authz.challenges.find((c) => c.type === wanted);
    if (challenge === undefined) throw new Error(`the CA does not offer ${wanted} for ${authz.identifier.value}`);
    const keyAuthorization = await client.getChallengeKeyAuthorization(challenge);
    const path = wanted === 'http-01' ? this.#storage.httpTokenPath(challenge.token) : this.#storage.alpnPath(authz.identifier.value);
    let completed = false;
    try {
      if (wanted === 'http-01') await this.#storage.write(path, keyAuthorization);
      else {
        const [alpnKey, alpnCert] = await lib.crypto.createAlpnCertificate(authz, keyAuthorization, newKey());
        await this.#storage.write(path, `${alpnCert.toString().trim()}\n${alpnKey.toString().trim()}\n`, 0o600);
      }
      // acme-client's self-check would dial the host's public address; the CA's own check is the one that counts.
      await client.completeChallenge(challenge);
      completed = true;
      await client.waitForValidStatus(challenge);
    } catch (err) {
      if (!completed) await client.deactivateAuthorization(authz).catch(() => undefined);
      throw err;
    } finally {
      await this.#storage.remove(path);
    }
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
