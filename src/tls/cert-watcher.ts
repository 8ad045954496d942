import { realpathSync } from 'node:fs';
import { basename, dirname } from 'node:path';
// Up a floor, type only: the watcher sets the certificate gauges of the Metrics it is handed;
// admin/metrics.ts imports nothing of tls/ but the ACME metric's shape, so no circle can form.
import type { Metrics } from '../admin/metrics.js';
import type { CertificatePaths } from '../config/types.js';
import type { Logger } from '../log.js';
import { watchSettled, type SettledWatcher } from '../watch.js';
import type { CertStore } from './cert-store.js';

export interface CertWatchOptions {
  /** Quiet time after the last event before reading (certbot's whole renewal takes ~5 ms). */
  readonly settleMs: number;
  /** Slow re-check, so a missed event cannot strand an expiring certificate. */
  readonly recheckMs: number;
}

/**
 * The folders to watch for a path: its own folder and the folder its symlink resolves into
 * (certbot's archive/). A folder deleted and made again is caught by the watcher's identity check.
 */
function watchDirs(paths: readonly string[]): string[] {
  const dirs = new Set<string>();
  for (const path of paths) {
    dirs.add(dirname(path));
    try {
      dirs.add(dirname(realpathSync(path)));
    } catch {
      // Not there yet (certbot writes it later): mid-swap or deleted: the folder added above is watched, so its arrival is seen.
    }
  }
  return [...dirs];
}

/** File and folder names whose events can mean a renewal: the paths, their link targets, their folders ("..data" and its kin too). */
function relevantNames(paths: readonly string[]): Set<string> {
  const names = new Set<string>();
  for (const path of paths) {
    names.add(basename(path));
    names.add(basename(dirname(path)));
    try {
      const real = realpathSync(path);
      names.add(basename(real));
      names.add(basename(dirname(real)));
    } catch {
      // Not there yet (certbot writes it later): its own names above are enough to see it arrive.
    }
  }
  return names;
}

/**
 * Keeps the store in step with the files: on settled events and on every re-check, each pair is
 * re-read and checked; a good new pair is swapped in for new handshakes, a bad one leaves the old
 * serving and is logged once per distinct problem. Returns the stopper.
 */
export function watchCertificates(store: CertStore, log: Logger, metrics: Metrics, options: CertWatchOptions): { ready: Promise<void>; stop(): Promise<void> } {
  const paths = (): string[] => store.paths.flatMap((p) => [p.cert, p.key]);
  const lastError = new Map<number, string>();
  let running = false;
  let again = false;

  const refreshAll = async (trigger: 'event' | 'recheck', firstEventAt = performance.now()): Promise<void> => {
    if (running) {
      again = true; // a storm: finish this round, then one more, ending on the last state
      return;
    }
    running = true;
    const started = firstEventAt;
    try {
      for (let i = 0; i < store.paths.length; i++) {
        const result = await store.refresh(i);
        const label = (store.paths[i] as CertificatePaths).cert;
        if (result.outcome === 'absent') continue; // an ACME slot not issued yet
        if (result.outcome === 'failed') {
          metrics.certReload.labels(label).set(0);
          if (lastError.get(i) !== result.error.message) {
            lastError.set(i, result.error.message);
            log.error({ event: 'cert-reload', cert: label, trigger, err: result.error.message, serving: result.current?.serial ?? null }, result.current === undefined ? 'certificate unusable; nothing served for it yet' : 'certificate change rejected; the previous certificate keeps serving');
          }
          continue;
        }
        lastError.delete(i);
        metrics.certReload.labels(label).set(1);
        metrics.certExpiry.labels(label).set(Math.round((result.current.notAfter.getTime() - Date.now()) / 1000));
        if (result.outcome === 'swapped') {
          log.info({
            event: 'cert-swap', cert: label, trigger, tookMs: Math.round(performance.now() - started),
            old: result.previous === undefined ? null : { serial: result.previous.serial, fingerprint256: result.previous.fingerprint256, notAfter: result.previous.notAfter.toISOString() },
            new: { serial: result.current.serial, fingerprint256: result.current.fingerprint256, notAfter: result.current.notAfter.toISOString() },
          }, 'certificate swapped for new handshakes');
          if (result.lostNames.length > 0) log.warn({ event: 'cert-swap', cert: label, lostNames: result.lostNames }, 'the new certificate no longer covers some names the old one served');
        }
      }
    } catch (err) {
      log.error({ event: 'cert-reload', err: (err as Error).message }, 'certificate reload failed unexpectedly');
    } finally {
      running = false;
      names = relevantNames(paths());
      watcher.retarget(watchDirs(paths()));
      if (again) {
        again = false;
        void refreshAll(trigger);
      }
    }
  };

  let names = relevantNames(paths());
  const watcher: SettledWatcher = watchSettled(watchDirs(paths()), options.settleMs, (at) => void refreshAll('event', at), (name) => names.has(name) || name.startsWith('..'));
  const recheck = setInterval(() => void refreshAll('recheck'), options.recheckMs);
  recheck.unref();
  return {
    ready: watcher.ready,
    async stop() {
      clearInterval(recheck);
      await watcher.close();
    },
  };
}
