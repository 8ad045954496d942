import cluster, { type Worker } from 'node:cluster';
import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { createServer } from 'node:http';
import type { Config } from './config/types.js';
import { warnAboutRuntime } from './lifecycle/runtime-floor.js';
import type { StartupSignals, StopSignal } from './lifecycle/signals.js';
import { createLogger, type Logger } from './log.js';
import { AcmeManager } from './tls/acme/manager.js';
import { prepareAcme } from './tls/acme/wiring.js';
import { readPair } from './tls/cert-store.js';
import { keyExchangeGroups } from './tls/groups.js';
import { GcraTable } from './pipeline/guard/gcra.js';
import { answerRateRequests } from './pipeline/guard/rate-store.js';
import { purgeCache } from './admin/server.js';
import { clusterPurge } from './cache/workers.js';

/** Environment a worker reads: the shared session-ticket keys, base64. */
const TICKET_KEYS_ENV = 'GATEHOUSE_TICKET_KEYS';
const WORKER_ENV = 'GATEHOUSE_WORKER';
const ROTATE_MS = 12 * 3_600_000;
/** What a worker sends the primary once its listeners accept (prom-client's messages look different). */
const READY_MESSAGE = 'gatehouse:ready';

/** In a worker, once every listener accepts: from now on it counts for /healthz and gets SIGHUPs. */
export function reportReady(): void {
  process.send?.({ type: READY_MESSAGE });
}

export function workerCount(config: Config): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

/** 48 bytes of ticket keys shared by every worker, so a resumed session works whichever worker accepts it. */
export function ticketKeysFromEnv(env: NodeJS.ProcessEnv): Buffer | undefined {
  const value = env[TICKET_KEYS_ENV];
  if (value === undefined) return undefined;
  const keys = Buffer.from(value, 'base64');
  return keys.length === 48 ? keys : undefined;
}

/**
 * The primary process with `workers > 1`: forks the workers (each a full edge sharing the
 * listeners), passes SIGHUP on to the ready ones, replaces crashed workers, serves the admin
 * listener with metrics aggregated from every worker, and on SIGTERM/SIGINT drains them all.
 * A worker is ready once it says its listeners accept, not when forked: /healthz is 200 only
 * while one is. A worker still starting gets no SIGHUP (its default action would kill it, and it
 * reads the current file anyway, comparing it again once it serves).
 */
export function supervise(config: Config, configPath: string, signals: StartupSignals): Promise<number> {
  const log = createLogger(config.log);
  const count = workerCount(config);
  // Workers accept on their own: the primary handing sockets round-robin costs a hop per connection.
  cluster.schedulingPolicy = cluster.SCHED_NONE;
  let keys = randomBytes(48);
  let stopping = false;
  const crashes: number[] = [];
  const ready = new Set<Worker>();
  const readyWorkers = (): Worker[] => [...ready].filter((w) => w.isConnected() && !w.isDead());

  const acme = startPrimaryAcme(config, log, count);
  const fork = (): Worker => cluster.fork({ [WORKER_ENV]: '1', [TICKET_KEYS_ENV]: keys.toString('base64'), GATEHOUSE_CONFIG: configPath });
  // One rate-limit table for every worker: a budget is the edge's, not N× it (README "Rate limits").
  cluster.on('message', answerRateRequests(new GcraTable()));
  for (let i = 0; i < count; i++) fork();
  log.info({ event: 'cluster', workers: count, pid: process.pid }, 'starting workers');
  // Once per edge, from the primary: the workers run the same Node.
  warnAboutRuntime(log);

  cluster.on('message', (worker, message: unknown) => {
    if ((message as { type?: unknown } | null)?.type === READY_MESSAGE) ready.add(worker);
  });
  cluster.on('exit', (worker, code, signal) => {
    ready.delete(worker);
    if (stopping) return;
    const now = Date.now();
    crashes.push(now);
    while (crashes.length > 0 && now - (crashes[0] as number) > 60_000) crashes.shift();
    log.error({ event: 'worker-exit', worker: worker.process.pid, code, signal }, 'worker died; starting a replacement');
    // A crash loop (bad certificate, port taken) must not spin: back off once it repeats.
    setTimeout(fork, crashes.length > count * 3 ? 5000 : 100);
  });

  // Ticket keys rotate: new workers get fresh keys; running ones keep theirs until replaced on
  // reload, which bounds how long one key can decrypt recorded sessions.
  const rotation = setInterval(() => { keys = randomBytes(48); }, ROTATE_MS);
  rotation.unref();

  const aggregator = new AggregatorRegistry();
  const purge = config.cache === null ? undefined : clusterPurge(config.cache, log);
  const admin = config.listen.admin === null ? undefined : createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') {
      // One ready worker serves; requiring all would take the node out of rotation while a
      // crashed worker is replaced, moving its whole load onto the other nodes for nothing.
      const up = readyWorkers().length;
      const ok = !stopping && up > 0;
      const status = ok ? 'ok' : stopping ? 'draining' : 'starting';
      res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ status, workers: up, of: count })}\n`);
      return;
    }
    if (path === '/metrics') {
      aggregator.clusterMetrics().then(
        (text) => res.writeHead(200, { 'content-type': aggregator.contentType }).end(text),
        (err: unknown) => { log.error({ err }, 'metrics aggregation failed'); res.writeHead(500).end(); },
      );
      return;
    }
    if (path === '/cache/purge' && req.method === 'POST' && purge !== undefined) {
      purgeCache(req, res, (what) => purge(readyWorkers(), what), log);
      return;
    }
    res.writeHead(404).end('not found: try /healthz or /metrics\n');
  });
  if (admin !== undefined && config.listen.admin !== null) {
    admin.on('connection', (s) => s.on('error', () => s.destroy()));
    admin.listen(config.listen.admin.port, config.listen.admin.host);
  }

  const reload = (): void => {
    const to = readyWorkers();
    log.info({ event: 'signal', signal: 'SIGHUP', workers: to.length }, 'reload passed on to the ready workers');
    for (const w of to) w.process.kill('SIGHUP');
  };
  return new Promise((resolve) => {
    const stop = (signal: StopSignal): void => {
      if (stopping) return;
      stopping = true;
      log.info({ event: 'signal', signal }, 'draining workers');
      const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
      for (const w of workers) w.process.kill('SIGTERM');
      void acme?.then((m) => m.stop());
      const deadline = setTimeout(() => { for (const w of workers) w.process.kill('SIGKILL'); }, config.timeouts.drain + 5000);
      void Promise.all(workers.map((w) => (w.isDead() ? undefined : new Promise((r) => w.once('exit', r))))).then(() => {
        clearTimeout(deadline);
        admin?.close();
        log.info({ event: 'stopped' }, 'gatehouse stopped');
        log.flush();
        resolve(0);
      });
    };
    // Held during startup: a stop drains the workers just forked; a SIGHUP needs nothing, as
    // the workers read the file now.
    const held = signals.handOver({ reload, stop });
    if (held.stop !== undefined) stop(held.stop);
  });
}

/**
 * With workers, the primary alone talks to the CA (workers are built with orderCertificates
 * false and serve what it stores). Names the configured certificates cover are left to them.
 */
function startPrimaryAcme(config: Config, log: Logger, workers: number): Promise<AcmeManager> | undefined {
  const acme = config.tls.acme;
  if (acme === null) return undefined;
  const settings = { minVersion: config.tls.minVersion, ciphers: config.tls.ciphers, groups: keyExchangeGroups() };
  return (async () => {
    // The CA validates at once: order only when every worker listens on each https port (and :80), or after 30 s.
    const wanted = workers * (config.listen.httpsAll.length + (config.listen.http === null ? 0 : 1));
    await new Promise<void>((resolve) => {
      let listening = 0;
      const onListening = (): void => {
        if (++listening >= wanted) done();
      };
      const timer = setTimeout(() => done(), 30_000);
      const done = (): void => {
        clearTimeout(timer);
        cluster.off('listening', onListening);
        resolve();
      };
      cluster.on('listening', onListening);
    });
    await prepareAcme(acme).catch((err: unknown) => log.error({ event: 'acme', err: (err as Error).message }, 'acme storage unusable'));
    const pairs = await Promise.all(config.tls.certificates.map((p) => readPair(p, settings).catch(() => undefined)));
    const covered = pairs.flatMap((p) => p?.names ?? []);
    const manager = new AcmeManager(acme, log, { covered: () => covered });
    manager.start();
    return manager;
  })();
}

/** In a worker: let the primary's AggregatorRegistry collect this edge's metrics. */
export function exposeWorkerMetrics(registry: import('prom-client').Registry): void {
  AggregatorRegistry.setRegistries([registry]);
  // prom-client installs the worker's answering listener only when an AggregatorRegistry is built.
  void new AggregatorRegistry();
}
