// Runs the engine on this thread (one worker) or on N worker threads, merges what they record
// and measures the generator itself: the process's CPU (all threads) and each thread's
// event-loop utilisation. A thread whose loop was busy ≥ 90% of the run could send no faster:
// then the client, not the server, was the limit, and the summary says so.
import { Worker } from 'node:worker_threads';
import { scaled } from './schedule.mjs';
import { mergeWindows } from './stats.mjs';

const BUSY = 0.9;
/**
 * The engines by name: autocannon for the closed model over HTTP/1.1, undici for the rest.
 * Loaded on use: a run's CPU figure includes the tool's start, and each engine is a large module.
 */
export const ENGINES = {
  undici: async (o) => (await import('./engine.mjs')).runEngine(o),
  autocannon: async (o) => (await import('./engine-autocannon.mjs')).runAutocannon(o),
};

/** `o`: engine options plus `workers`; `onSecond(i, mergedWindow)` for the live line. */
export async function runLoad(o) {
  const n = Math.max(1, o.workers ?? 1);
  const shares = Array.from({ length: n }, (_, i) => ({
    ...o,
    connections: Math.max(1, Math.floor(o.connections / n) + (i < o.connections % n ? 1 : 0)),
    maxInflight: Math.max(1, Math.ceil(o.maxInflight / n)),
    stages: o.stages === undefined ? undefined : scaled(o.stages, 1 / n),
    onSecond: undefined,
    workers: undefined,
  }));
  const perSecond = [];
  const arrived = (w, i, window) => {
    (perSecond[i] ??= [])[w] = window;
    if (perSecond[i].filter(Boolean).length === n) o.onSecond?.(i, mergeWindows(perSecond[i]));
  };
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const results = n === 1
    ? [await ENGINES[o.engine]({ ...shares[0], onSecond: (i, window) => arrived(0, i, window) })]
    : await Promise.all(shares.map((share, w) => inThread(share, (i, window) => arrived(w, i, window))));
  const wallS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuS = (cpu.user + cpu.system) / 1e6;
  const elus = results.map((r) => r.elu);
  return {
    total: mergeWindows(results.map((r) => r.total)),
    seconds: perSecond.map((ws) => mergeWindows(ws.filter(Boolean))),
    sent: sum(results.map((r) => r.sent)),
    planned: o.stages === undefined ? null : sum(results.map((r) => r.planned)),
    shortfall: sum(results.map((r) => r.shortfall)),
    unfinished: sum(results.map((r) => r.unfinished)),
    elapsedS: Math.max(...results.map((r) => r.elapsedS)),
    hsts: results.find((r) => r.hsts !== null)?.hsts ?? null,
    generator: {
      workers: n,
      cpuSeconds: round(cpuS, 2),
      cpuPercentOfOneCore: Math.round((cpuS / wallS) * 100),
      eventLoopBusy: elus.map((e) => round(e, 3)),
      clientLimited: elus.some((e) => e >= BUSY),
    },
  };
}

function inThread(share, onSecond) {
  return new Promise((resolve, reject) => {
    const w = new Worker(new URL('./worker.mjs', import.meta.url), { workerData: share });
    w.on('message', (m) => (m.type === 'second' ? onSecond(m.i, m.window) : resolve(m.result)));
    w.on('error', reject);
    w.on('exit', (code) => { if (code !== 0) reject(new Error(`load worker exited ${code}`)); });
  });
}
const sum = (xs) => xs.reduce((a, b) => a + (b ?? 0), 0);
const round = (x, d) => Math.round(x * 10 ** d) / 10 ** d;
