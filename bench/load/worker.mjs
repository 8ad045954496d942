// One engine in a worker thread (--workers N): its share of the connections and the rate, its
// per-second windows and totals posted to the main thread, which merges the histograms.
import { parentPort, workerData } from 'node:worker_threads';
import { runEngine } from './engine.mjs';

const result = await runEngine({ ...workerData, onSecond: (i, window) => parentPort.postMessage({ type: 'second', i, window }) });
parentPort.postMessage({ type: 'done', result });
