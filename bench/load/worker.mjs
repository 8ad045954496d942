// One engine in a worker thread (--workers N): its share of the connections and the rate, its
// per-second windows and totals posted to the main thread, which merges the histograms.
import { parentPort, workerData } from 'node:worker_threads';
import { ENGINES } from './run.mjs';

const result = await ENGINES[workerData.engine]({ ...workerData, onSecond: (i, window) => parentPort.postMessage({ type: 'second', i, window }) });
parentPort.postMessage({ type: 'done', result });
