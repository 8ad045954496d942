import { randomBytes } from 'node:crypto';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Server as NetServer } from 'node:net';
import type { DestinationStream } from 'pino';
import { createAdminListener } from './admin/server.js';
import { ResponseCache } from './cache/cache.js';
import { Metrics } from './admin/metrics.js';
import type { Config, ListenAddress } from './config/types.js';
import { EdgeError } from './errors.js';
import { createLogging, type Logger, type Logging } from './log.js';
import { ConnectionGate } from './listeners/connection-gate.js';
import { installFrontDoor } from './listeners/front-door.js';
import { createRedirectListener } from './listeners/redirect.js';
import { H2Front } from './listeners/h2.js';
import { createSecureListener } from './listeners/secure.js';
import { createMorePort } from './listeners/more-ports.js';
import { createHooks, type EdgeHooks } from './hooks.js';
import { defectFor } from './lifecycle/node-defects.js';
import { handleConnect } from './pipeline/connect.js';
import { handleRequest } from './pipeline/request.js';
import { handleUpgrade } from './pipeline/upgrade.js';
import { GuardState } from './pipeline/guard/state.js';
import { Forwarder } from './proxy/forward.js';
import { standInAnswers } from './pipeline/answers.js';
import { TunnelRegistry, type TunnelHooks } from './proxy/tunnel.js';
import { buildRuntime, targetKeys, type Runtime } from './pipeline/runtime.js';
import { acmePaths, acmeResponders, prepareAcme, type AcmeResponders } from './tls/acme/wiring.js';
import { AcmeManager } from './tls/acme/manager.js';
import { CertStore, type CertPair } from './tls/cert-store.js';
import { watchCertificates } from './tls/cert-watcher.js';
import { keyExchangeGroups } from './tls/groups.js';
import { UpstreamClient } from './upstream/client.js';
import { HealthChecks } from './upstream/health.js';
import { TargetRegistry } from './upstream/targets.js';

export type EdgeState = 'created' | 'running' | 'draining' | 'closed';

export interface EdgeOptions {
  /** Log somewhere other than stdout (tests). */
  readonly logDestination?: DestinationStream;
  /** Session-ticket keys shared across workers (48 bytes); each process makes its own otherwise. */
  readonly ticketKeys?: Buffer | undefined;
  /** With tls.acme: talk to the CA (default true). Workers set false: the primary orders, they serve from storage. */
  readonly orderCertificates?: boolean;
}

export interface BoundAddresses {
  /** The first listen.https address; `httpsAll` holds every one, this first. */
  readonly https: AddressInfo;
  readonly httpsAll: readonly AddressInfo[];
  readonly http: AddressInfo | null;
  readonly admin: AddressInfo | null;
}

/**
 * One running edge: listeners, certificate store, runtime tables, upstream state. A reload
 * builds the new runtime (and certificate store, when TLS settings changed) completely before
 * swapping it in; requests in flight finish on what they started with.
 */
export class Edge {
  #state: EdgeState = 'created';
  #config: Config;
  #runtime: Runtime;
  #certs: CertStore;
  /** The pair :443's own (no-SNI) context was built from: SNI leaves such handshakes on it. */
  #ownPair: CertPair | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
  readonly #targets = new TargetRegistry();
  readonly #tunnels = new TunnelRegistry();
  /** Budgets, auth caches and store connections: kept across reloads. */
  readonly #guard: GuardState;
  readonly #hooks: EdgeHooks;
  /** The one upstream client: requests, upgrades and health probes. */
  readonly upstreams: UpstreamClient;
  /** Client connections on :443 and :80 together (limits.connections is per process). */
  readonly #gate = new ConnectionGate();
  readonly forwarder: Forwarder;
  readonly hooks: TunnelHooks;
  #https: HttpsServer | undefined;
  /** listen.https addresses after the first: TCP accept only, each socket handed to #https. */
  readonly #morePorts: NetServer[] = [];
  #h2: H2Front | undefined;
  #http: HttpServer | undefined;
  #admin: HttpServer | undefined;
  #health: HealthChecks | undefined;
  #stopCertWatch: (() => Promise<void>) | undefined;
  #closing: Promise<void> | undefined;
  #acme: AcmeManager | undefined;
  #responders: AcmeResponders;
  readonly #orderCertificates: boolean;
  /** The response cache's store: the edge's, not the runtime's, so a reload keeps its entries. */
  #cache: ResponseCache | undefined;

  readonly #ticketKeys: Buffer | undefined;

  private constructor(config: Config, certs: CertStore, { log, exchangeLine }: Logging, ticketKeys: Buffer | undefined, orderCertificates: boolean) {
    // Without listen.admin nothing can scrape the process metrics: none are collected (README "Logs and metrics").
    this.metrics = new Metrics(config.listen.admin !== null);
    this.#ticketKeys = ticketKeys;
    this.#orderCertificates = orderCertificates;
    this.#responders = acmeResponders(config.tls.acme, certs.settings);
    this.metrics.watchAcme(() => this.#responders.metrics());
    this.#config = config;
    this.#certs = certs;
    this.log = log;
    this.metrics.watchPools(() => Array.from(this.#targets.all(), (t) => ({ target: t.id, opened: t.pool.opened, idle: t.pool.idle })));
    this.#hooks = createHooks(log, this.metrics, exchangeLine);
    this.upstreams = new UpstreamClient(this.#hooks.upstream);
    this.forwarder = new Forwarder(this.upstreams, this.#hooks.forward, standInAnswers);
    this.hooks = this.#hooks.tunnels;
    this.#guard = new GuardState(log, this.metrics, this.upstreams);
    this.#runtime = buildRuntime(config, this.#targets, this.#guard);
    this.#cache = config.cache === null ? undefined : new ResponseCache(config.cache, this.upstreams, log);
    this.metrics.watchCache(() => this.#cache);
  }

  /** Load certificates and build everything; throws EdgeError(EDGE_ERR_CERT) when a pair is unusable. */
  static async create(config: Config, options: EdgeOptions = {}): Promise<Edge> {
    const logging = createLogging(config.log, options.logDestination);
    // One key set for every context this process builds, so sessions resume across SNI names and certificate swaps.
    const ticketKeys = options.ticketKeys ?? randomBytes(48);
    await prepareAcme(config.tls.acme);
    const certs = await CertStore.load(config.tls, ticketKeys, acmePaths(config.tls.acme));
    return new Edge(config, certs, logging, ticketKeys, options.orderCertificates ?? true);
  }

  get state(): EdgeState {
    return this.#state;
  }

  get config(): Config {
    return this.#config;
  }

  get certs(): CertStore {
    return this.#certs;
  }

  get tunnels(): TunnelRegistry {
    return this.#tunnels;
  }

  runtime(): Runtime {
    return this.#runtime;
  }

  draining(): boolean {
    return this.#state === 'draining';
  }

  get cache(): ResponseCache | undefined {
    return this.#cache;
  }

  /** Bind every configured listener; resolves with the bound addresses (port 0 → the real port). */
  async start(): Promise<BoundAddresses> {
    if (this.#state !== 'created') throw new Error(`cannot start an edge that is ${this.#state}`);
    const config = this.#config;
    // A Node release a client can abort through its http2 code serves HTTP/1.1 only: ALPN then
    // never offers h2, and every h2-capable client falls back as it does to any HTTP/1.1 server.
    const h2Defect = config.http2.enabled ? defectFor('http2') : undefined;
    if (h2Defect !== undefined) {
      this.log.warn({ event: 'runtime', node: process.versions.node }, `HTTP/2 is off on Node ${process.versions.node}: ${h2Defect.what}; run a Node release without it (README "Known limits") to serve h2`);
    }
    if (config.http2.enabled && h2Defect === undefined) {
      this.#h2 = new H2Front(config, {
        log: this.log,
        hsts: () => this.#runtime.hsts,
        onRequest: (req, res) => handleRequest(this, req, res),
        onConnect: (req, res) => handleConnect(this, req, res),
      });
    }
    this.#ownPair = this.#certs.defaultPair;
    this.#https = createSecureListener(config, {
      h2: this.#h2,
      certs: () => this.#certs,
      ownPair: () => this.#ownPair,
      log: this.log,
      metrics: this.metrics,
      hsts: () => this.#runtime.hsts,
      onRequest: (req, res) => handleRequest(this, req, res),
      onUpgrade: (req, socket, head) => handleUpgrade(this, req, socket, head),
      acmeAlpn: this.#responders.alpn,
    });
    this.#frontDoor(this.#https, 'https');
    this.#certs.onSwap((pairs) => this.#applyDefaultContext(pairs[0]));
    const https = await listen(this.#https, config.listen.https, 'listen.https');
    const httpsAll = [https];
    for (const [i, address] of config.listen.httpsAll.entries()) {
      if (i === 0) continue;
      const door = createMorePort(this.#https);
      this.#morePorts.push(door);
      httpsAll.push(await listen(door, address, `listen.https[${i}]`));
    }
    let http: AddressInfo | null = null;
    let admin: AddressInfo | null = null;
    if (config.listen.http !== null) {
      this.#http = createRedirectListener(() => this.#runtime, this.log, () => https.port, () => this.#responders.http, (req, res) => handleRequest(this, req, res, 'http'), (req, socket, head) => handleUpgrade(this, req, socket, head, 'http'));
      this.#frontDoor(this.#http, 'http');
      http = await listen(this.#http, config.listen.http, 'listen.http');
    }
    if (config.listen.admin !== null) {
      this.#admin = createAdminListener(this.metrics, () => ({ state: this.#state, ready: this.#state === 'running' }), this.log, (what) => this.#cache?.purge(what));
      admin = await listen(this.#admin, config.listen.admin, 'listen.admin');
    }
    this.#startHealth();
    this.#observeCertificates();
    await this.#watchCertificates();
    this.#startAcme();
    this.#state = 'running';
    this.log.info({ event: 'start', https: https.port, ...(httpsAll.length > 1 ? { httpsAll: httpsAll.map((a) => a.port) } : {}), http: http?.port ?? null, admin: admin?.port ?? null, tls: config.tls.minVersion, groups: keyExchangeGroups() }, 'gatehouse is serving');
    return { https, httpsAll, http, admin };
  }

  /**
   * Apply a new config to new requests and connections. Certificates are reloaded first when
   * the TLS settings changed; any failure leaves the old config serving. Listener addresses
   * cannot move under a running process: such changes are reported, not half-applied.
   */
  async reload(config: Config): Promise<{ readonly applied: boolean; readonly notes: readonly string[] }> {
    if (this.#state !== 'running') return { applied: false, notes: [`edge is ${this.#state}`] };
    const notes: string[] = [];
    const old = this.#config;
    for (const key of ['https', 'http', 'admin'] as const) {
      const same = key === 'https' ? sameAddresses(old.listen.httpsAll, config.listen.httpsAll) : sameAddress(old.listen[key], config.listen[key]);
      if (!same) notes.push(`listen.${key} changed: restart gatehouse to move listeners`);
    }
    if (old.workers !== config.workers) notes.push('workers changed: restart gatehouse to apply');
    if (old.http2.enabled !== config.http2.enabled) notes.push('http2.enabled changed: restart gatehouse to apply (ALPN is fixed at start)');
    let certs = this.#certs;
    if (JSON.stringify(old.tls) !== JSON.stringify(config.tls)) {
      try {
        await prepareAcme(config.tls.acme);
        certs = await CertStore.load(config.tls, this.#ticketKeys, acmePaths(config.tls.acme));
      } catch (err) {
        this.log.error({ event: 'reload', err: (err as Error).message }, 'config reload refused: certificates unusable; old config keeps serving');
        return { applied: false, notes: [(err as Error).message] };
      }
    }
    const runtime = buildRuntime(config, this.#targets, this.#guard);
    // Swap: everything was built; from here on nothing can fail half-way.
    this.#health?.stop();
    this.#config = config;
    this.#runtime = runtime;
    if (config.cache === null) this.#cache = undefined;
    else if (this.#cache === undefined) this.#cache = new ResponseCache(config.cache, this.upstreams, this.log);
    else this.#cache.configure(config.cache);
    if (certs !== this.#certs) {
      this.#certs = certs;
      certs.onSwap((pairs) => this.#applyDefaultContext(pairs[0]));
      this.#applyDefaultContext(certs.defaultPair);
      await this.#watchCertificates();
    }
    this.#targets.retain(targetKeys(runtime));
    this.#h2?.update(config);
    this.#startHealth();
    this.#observeCertificates();
    if (JSON.stringify(old.tls.acme) !== JSON.stringify(config.tls.acme)) {
      if (old.tls.acme?.challenge !== config.tls.acme?.challenge) notes.push('tls.acme.challenge changed: restart gatehouse to change what :443 answers');
      this.#responders = acmeResponders(config.tls.acme, certs.settings, this.#responders);
      await this.#acme?.stop();
      this.#acme = undefined;
      this.#startAcme();
    }
    for (const note of notes) this.log.warn({ event: 'reload' }, note);
    this.log.info({ event: 'reload', sites: config.sites.length, upstreams: config.upstreams.size }, 'config reloaded');
    return { applied: true, notes };
  }

  /**
   * Graceful stop: refuse new connections, let in-flight requests finish (their responses say
   * Connection: close), give WebSockets until `timeouts.drain`, then close what is left.
   * Idempotent; resolves when every listener has closed.
   */
  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    const wasRunning = this.#state === 'running';
    this.#state = 'draining';
    this.#health?.stop();
    await this.#acme?.stop();
    await this.#stopCertWatch?.();
    const deadline = this.#config.timeouts.drain;
    this.log.info({ event: 'drain', openWebSockets: this.#tunnels.size, deadlineMs: deadline }, 'draining');
    // The admin listener stays up while draining so probes can see /healthz turn 503.
    const servers = [this.#https, this.#http].filter((s): s is HttpServer => s !== undefined);
    // Every listening socket stops accepting; the further https ports close once their connections have.
    const closed = Promise.all([...servers, ...this.#morePorts].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const s of servers) s.closeIdleConnections();
    this.#h2?.close();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => { timer = setTimeout(() => resolve('expired'), deadline); });
    const outcome = await Promise.race([Promise.all([closed, this.#tunnels.idle()]).then(() => 'clean' as const), expired]);
    clearTimeout(timer);
    if (outcome === 'expired') {
      this.#tunnels.closeAll();
      for (const s of servers) s.closeAllConnections();
      this.#h2?.destroyAll();
      // At most 2 s more for the forced closes; the timer goes as soon as they are done.
      let grace: NodeJS.Timeout | undefined;
      await Promise.race([closed, new Promise((r) => { grace = setTimeout(r, 2000); })]);
      clearTimeout(grace);
    }
    if (this.#admin !== undefined) {
      const admin = this.#admin;
      await new Promise<void>((resolve) => { admin.close(() => resolve()); admin.closeAllConnections(); });
    }
    this.#targets.destroy();
    this.#guard.close();
    this.#state = 'closed';
    if (wasRunning) this.log.info({ event: 'stopped', outcome }, 'gatehouse stopped');
    this.log.flush();
  }

  /** Caps and PROXY protocol before the listener's own handling; the admin listener never gets one. */
  #frontDoor(server: HttpServer | HttpsServer, listener: string): void {
    installFrontDoor(server, { listener, tls: listener === 'https', runtime: () => this.#runtime, gate: this.#gate, log: this.log, metrics: this.metrics });
  }

  #applyDefaultContext(pair: CertPair | undefined): void {
    if (pair === undefined || this.#https === undefined) return;
    try {
      this.#https.setSecureContext(pair.options);
      this.#ownPair = pair;
    } catch (err) {
      this.log.error({ err: (err as Error).message }, 'could not apply the default certificate; the previous one keeps serving');
    }
  }

  /** (Re)start watching the current store's files; resolves when the watch is live (at most 5 s). */
  async #watchCertificates(): Promise<void> {
    const previous = this.#stopCertWatch;
    void previous?.();
    const { settle, recheck } = this.#config.tls.watch;
    const watch = watchCertificates(this.#certs, this.log, this.metrics, { settleMs: settle, recheckMs: recheck });
    this.#stopCertWatch = () => watch.stop();
    await Promise.race([watch.ready, new Promise((r) => setTimeout(r, 5000).unref())]);
  }

  #startAcme(): void {
    const acme = this.#config.tls.acme;
    if (acme === null || !this.#orderCertificates) return;
    this.#acme = new AcmeManager(acme, this.log, { covered: () => this.#certs.configuredNames });
    this.#acme.start();
  }

  #startHealth(): void {
    const now = Date.now();
    for (const upstream of this.#runtime.upstreams.values()) {
      for (const t of upstream.targets) this.metrics.targetUp.labels(upstream.name, t.id).set(t.healthy(now) ? 1 : 0);
    }
    this.#health = new HealthChecks(this.#runtime.upstreams.values(), this.upstreams, this.log, this.#hooks.health);
  }

  #observeCertificates(): void {
    for (const pair of this.#certs.pairs) {
      this.metrics.certExpiry.labels(pair.paths.cert).set(Math.round((pair.notAfter.getTime() - Date.now()) / 1000));
      this.metrics.certReload.labels(pair.paths.cert).set(1);
    }
  }
}

function sameAddress(a: ListenAddress | null, b: ListenAddress | null): boolean {
  return a === b || (a !== null && b !== null && a.host === b.host && a.port === b.port);
}

function sameAddresses(a: readonly ListenAddress[], b: readonly ListenAddress[]): boolean {
  return a.length === b.length && a.every((x, i) => sameAddress(x, b[i] ?? null));
}

async function listen(server: NetServer, address: ListenAddress, key: string): Promise<AddressInfo> {
  // One listener pair, not events.once('listening'): that one rejects with the raw errno before
  // the error could be named (EDGE_ERR_LISTEN and the key are what the operator needs).
  await new Promise<void>((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException): void => {
      server.off('listening', onListening);
      const hint = e.code === 'EADDRINUSE' ? 'the port is taken by another process'
        : e.code === 'EACCES' ? 'ports below 1024 need root, CAP_NET_BIND_SERVICE, or in a container a lower net.ipv4.ip_unprivileged_port_start (see README)' : e.code ?? e.message;
      reject(new EdgeError('EDGE_ERR_LISTEN', `${key}: cannot listen on ${address.host ?? '*'}:${address.port}: ${hint}`, e));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen({ port: address.port, host: address.host, exclusive: false });
  });
  return server.address() as AddressInfo;
}
