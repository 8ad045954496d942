import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Server as HttpServer } from 'node:http';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import type { DestinationStream } from 'pino';
import { createAdminListener } from './admin/server.js';
import { Metrics } from './admin/metrics.js';
import type { Config, ListenAddress } from './config/types.js';
import { EdgeError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { ConnectionGate } from './listeners/connection-gate.js';
import { installFrontDoor } from './listeners/front-door.js';
import { createRedirectListener } from './listeners/redirect.js';
import { createSecureListener } from './listeners/secure.js';
import { handleRequest, logExchange } from './pipeline/request.js';
import { respond } from './pipeline/respond.js';
import { handleUpgrade } from './pipeline/upgrade.js';
import { Forwarder } from './proxy/forward.js';
import { TunnelRegistry, type TunnelHooks } from './proxy/tunnel.js';
import { buildRuntime, targetKeys, type Runtime } from './runtime.js';
import { CertStore } from './tls/cert-store.js';
import { watchCertificates } from './tls/cert-watcher.js';
import { startHealthChecks } from './upstream/health.js';
import { TargetRegistry, type TargetState } from './upstream/pool.js';

/** Bodies of the responses Gatehouse writes when an exchange fails (408 also closes: the body was left half-read). */
const FAILURE_TEXT: Readonly<Record<number, string>> = { 408: 'request body timed out', 504: 'upstream timed out' };

export type EdgeState = 'created' | 'running' | 'draining' | 'closed';

export interface EdgeOptions {
  /** Log somewhere other than stdout (tests). */
  readonly logDestination?: DestinationStream;
  /** Session-ticket keys shared across workers (48 bytes); each process makes its own otherwise. */
  readonly ticketKeys?: Buffer | undefined;
}

export interface BoundAddresses {
  readonly https: AddressInfo;
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
  readonly log: Logger;
  readonly metrics = new Metrics();
  readonly #targets = new TargetRegistry();
  readonly #tunnels = new TunnelRegistry();
  /** Client connections on :443 and :80 together (limits.connections is per process). */
  readonly #gate = new ConnectionGate();
  readonly forwarder: Forwarder;
  readonly hooks: TunnelHooks;
  #https: HttpsServer | undefined;
  #http: HttpServer | undefined;
  #admin: HttpServer | undefined;
  #stopHealth: (() => void)[] = [];
  #stopCertWatch: (() => Promise<void>) | undefined;
  #closing: Promise<void> | undefined;

  readonly #ticketKeys: Buffer | undefined;

  private constructor(config: Config, certs: CertStore, log: Logger, ticketKeys: Buffer | undefined) {
    this.#ticketKeys = ticketKeys;
    this.#config = config;
    this.#certs = certs;
    this.log = log;
    this.#runtime = buildRuntime(config, this.#targets);
    this.metrics.watchPools(() => Array.from(this.#targets.all(), (t) => ({ target: t.id, opened: t.pool.opened, idle: t.pool.idle })));
    this.forwarder = new Forwarder({
      done: (exchange, res) => logExchange(this, exchange, res),
      fail: (res, error) => respond(res, error.status, this.#runtime.hsts, FAILURE_TEXT[error.status] ?? 'upstream unavailable', error.status === 408),
      targetDown: (target, err) => this.#targetDown(target, err),
    });
    this.hooks = this.#tunnelHooks();
  }

  /** Load certificates and build everything; throws EdgeError(EDGE_ERR_CERT) when a pair is unusable. */
  static async create(config: Config, options: EdgeOptions = {}): Promise<Edge> {
    const log = createLogger(config.log, options.logDestination);
    // One key set for every context this process builds, so sessions resume across SNI names and certificate swaps.
    const ticketKeys = options.ticketKeys ?? randomBytes(48);
    const certs = await CertStore.load(config.tls, ticketKeys);
    return new Edge(config, certs, log, ticketKeys);
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

  /** Bind every configured listener; resolves with the bound addresses (port 0 → the real port). */
  async start(): Promise<BoundAddresses> {
    if (this.#state !== 'created') throw new Error(`cannot start an edge that is ${this.#state}`);
    const config = this.#config;
    this.#https = createSecureListener(config, {
      certs: () => this.#certs,
      log: this.log,
      metrics: this.metrics,
      hsts: () => this.#runtime.hsts,
      onRequest: (req, res) => handleRequest(this, req, res),
      onUpgrade: (req, socket, head) => handleUpgrade(this, req, socket, head),
    });
    this.#frontDoor(this.#https, 'https');
    this.#certs.onSwap((pairs) => this.#applyDefaultContext(pairs[0]?.options));
    const https = await listen(this.#https, config.listen.https, 'listen.https');
    let http: AddressInfo | null = null;
    let admin: AddressInfo | null = null;
    if (config.listen.http !== null) {
      this.#http = createRedirectListener(() => this.#runtime, this.log, () => https.port);
      this.#frontDoor(this.#http, 'http');
      http = await listen(this.#http, config.listen.http, 'listen.http');
    }
    if (config.listen.admin !== null) {
      this.#admin = createAdminListener(this.metrics, () => ({ state: this.#state, ready: this.#state === 'running' }), this.log);
      admin = await listen(this.#admin, config.listen.admin, 'listen.admin');
    }
    this.#startHealth();
    this.#observeCertificates();
    await this.#watchCertificates();
    this.#state = 'running';
    this.log.info({ event: 'start', https: https.port, http: http?.port ?? null, admin: admin?.port ?? null, tls: config.tls.minVersion }, 'gatehouse is serving');
    return { https, http, admin };
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
      if (!sameAddress(old.listen[key], config.listen[key])) notes.push(`listen.${key} changed: restart gatehouse to move listeners`);
    }
    if (old.workers !== config.workers) notes.push('workers changed: restart gatehouse to apply');
    let certs = this.#certs;
    if (JSON.stringify(old.tls) !== JSON.stringify(config.tls)) {
      try {
        certs = await CertStore.load(config.tls, this.#ticketKeys);
      } catch (err) {
        this.log.error({ event: 'reload', err: (err as Error).message }, 'config reload refused: certificates unusable; old config keeps serving');
        return { applied: false, notes: [(err as Error).message] };
      }
    }
    const runtime = buildRuntime(config, this.#targets);
    // Swap: everything was built; from here on nothing can fail half-way.
    this.#stopHealth.forEach((stop) => stop());
    this.#config = config;
    this.#runtime = runtime;
    if (certs !== this.#certs) {
      this.#certs = certs;
      certs.onSwap((pairs) => this.#applyDefaultContext(pairs[0]?.options));
      this.#applyDefaultContext(certs.defaultPair.options);
      await this.#watchCertificates();
    }
    this.#targets.retain(targetKeys(runtime));
    this.#startHealth();
    this.#observeCertificates();
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
    this.#stopHealth.forEach((stop) => stop());
    this.#stopHealth = [];
    await this.#stopCertWatch?.();
    const deadline = this.#config.timeouts.drain;
    this.log.info({ event: 'drain', openWebSockets: this.#tunnels.size, deadlineMs: deadline }, 'draining');
    // The admin listener stays up while draining so probes can see /healthz turn 503.
    const servers = [this.#https, this.#http].filter((s): s is HttpServer => s !== undefined);
    const closed = Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    for (const s of servers) s.closeIdleConnections();
    let timer: NodeJS.Timeout | undefined;
    const expired = new Promise<'expired'>((resolve) => { timer = setTimeout(() => resolve('expired'), deadline); });
    const outcome = await Promise.race([Promise.all([closed, this.#tunnels.idle()]).then(() => 'clean' as const), expired]);
    clearTimeout(timer);
    if (outcome === 'expired') {
      this.#tunnels.closeAll();
      for (const s of servers) s.closeAllConnections();
      await Promise.race([closed, new Promise((r) => setTimeout(r, 2000))]);
    }
    if (this.#admin !== undefined) {
      const admin = this.#admin;
      await new Promise<void>((resolve) => { admin.close(() => resolve()); admin.closeAllConnections(); });
    }
    this.#targets.destroy();
    this.#state = 'closed';
    if (wasRunning) this.log.info({ event: 'stopped', outcome }, 'gatehouse stopped');
    this.log.flush();
  }

  /** Caps and PROXY protocol before the listener's own handling; the admin listener never gets one. */
  #frontDoor(server: HttpServer | HttpsServer, listener: string): void {
    installFrontDoor(server, { listener, tls: listener === 'https', runtime: () => this.#runtime, gate: this.#gate, log: this.log, metrics: this.metrics });
  }

  #applyDefaultContext(options: Parameters<HttpsServer['setSecureContext']>[0] | undefined): void {
    if (options === undefined || this.#https === undefined) return;
    try {
      this.#https.setSecureContext(options);
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

  #startHealth(): void {
    for (const upstream of this.#runtime.upstreams.values()) {
      for (const t of upstream.targets) this.metrics.targetUp.labels(upstream.name, t.id).set(t.healthy(Date.now()) ? 1 : 0);
      this.#stopHealth.push(startHealthChecks(upstream, this.log, (t, up) => this.metrics.targetUp.labels(upstream.name, t.id).set(up ? 1 : 0)));
    }
  }

  #observeCertificates(): void {
    for (const pair of this.#certs.pairs) {
      this.metrics.certExpiry.labels(pair.paths.cert).set(Math.round((pair.notAfter.getTime() - Date.now()) / 1000));
      this.metrics.certReload.labels(pair.paths.cert).set(1);
    }
  }

  #targetDown(target: TargetState, err: unknown): void {
    this.log.warn({ event: 'health', target: target.id, up: false, err: (err as Error)?.message }, 'target marked down after repeated failures');
  }

  #tunnelHooks(): TunnelHooks {
    return {
      opened: (t) => {
        this.metrics.websockets.inc();
        this.log.info({ event: 'websocket-open', ...t.info, target: t.target }, 'websocket open');
      },
      closed: (t, bytesIn, bytesOut) => {
        this.metrics.websockets.dec();
        this.log.info({ event: 'websocket-close', ...t.info, target: t.target, durationMs: Math.round(performance.now() - t.start), bytesIn, bytesOut }, 'websocket close');
      },
      failed: (error, status, target, info) => {
        this.log.warn({ event: 'websocket-failed', ...info, status, target, code: error.code, err: error.message }, 'websocket handshake failed');
      },
      targetDown: (target, err) => this.#targetDown(target, err),
    };
  }
}

function sameAddress(a: ListenAddress | null, b: ListenAddress | null): boolean {
  return a === b || (a !== null && b !== null && a.host === b.host && a.port === b.port);
}

async function listen(server: HttpServer | HttpsServer, address: ListenAddress, key: string): Promise<AddressInfo> {
  server.listen({ port: address.port, host: address.host, exclusive: false });
  const failed = once(server, 'error').then(([err]: unknown[]) => {
    const e = err as NodeJS.ErrnoException;
    const hint = e.code === 'EADDRINUSE' ? 'the port is taken by another process'
      : e.code === 'EACCES' ? 'ports below 1024 need root or CAP_NET_BIND_SERVICE (see README)' : e.code ?? e.message;
    throw new EdgeError('EDGE_ERR_LISTEN', `${key}: cannot listen on ${address.host ?? '*'}:${address.port}: ${hint}`, err);
  });
  await Promise.race([once(server, 'listening'), failed]);
  failed.catch(() => undefined);
  return server.address() as AddressInfo;
}
