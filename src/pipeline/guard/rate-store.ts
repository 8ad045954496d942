import type { Worker } from 'node:cluster';
import { afterWaitingIo, DECISION_TIMEOUT_MS } from './deadline.js';
import { GcraTable, type Decision } from './gcra.js';

/**
 * Where GCRA state lives. One budget must hold for the whole edge (README "Rate limits"): in this process
 * alone; with `workers`, in the primary, which every worker asks over the cluster IPC channel
 * (one table, so clients spread over workers share it, not N budgets); with `store`, in Redis.
 * A store that cannot answer rejects, and the guard serves the request (fails open).
 */
export interface RateStore {
  readonly kind: 'local' | 'cluster' | 'redis';
  take(key: string, interval: number, tolerance: number): Decision | Promise<Decision>;
  close(): void;
}

export class LocalStore implements RateStore {
  readonly kind = 'local';
  readonly #table = new GcraTable();

  take(key: string, interval: number, tolerance: number): Decision {
    return this.#table.take(key, Date.now(), interval, tolerance);
  }

  close(): void {}
}

/** The tag of rate-limit messages on the cluster channel (prom-client's aggregator shares it). */
const TAG = 'gatehouseRate';

interface TakeMessage {
  readonly [TAG]: 'take';
  readonly id: number;
  readonly key: string;
  readonly interval: number;
  readonly tolerance: number;
}

interface AnswerMessage {
  readonly [TAG]: 'answer';
  readonly id: number;
  readonly allowed: boolean;
  readonly ahead: number;
}

interface Pending {
  resolve(decision: Decision): void;
  reject(err: Error): void;
  readonly cancel: () => void;
}

/** A worker's end of the cluster channel: `process` in a worker (any IPC channel of that shape). */
export interface RateChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  send?(message: TakeMessage, sendHandle: undefined, options: undefined, callback: (err: Error | null) => void): boolean;
}

/** A worker's view: every decision is the primary's (answerRateRequests below). */
export class ClusterStore implements RateStore {
  readonly kind = 'cluster';
  readonly #channel: RateChannel;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  readonly #onMessage = (message: unknown): void => {
    const m = message as Partial<AnswerMessage> | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'answer' || typeof m.id !== 'number') return;
    const pending = this.#pending.get(m.id);
    if (pending === undefined) return;
    this.#pending.delete(m.id);
    pending.cancel();
    pending.resolve({ allowed: m.allowed === true, ahead: Number(m.ahead) });
  };

  constructor(channel: RateChannel) {
    this.#channel = channel;
    channel.on('message', this.#onMessage);
  }

  take(key: string, interval: number, tolerance: number): Promise<Decision> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      // A primary that does not answer in time is treated like an unreachable store.
      const cancel = afterWaitingIo(DECISION_TIMEOUT_MS, () => {
        if (this.#pending.delete(id)) reject(new Error(`the primary did not answer within ${DECISION_TIMEOUT_MS}ms`));
      });
      this.#pending.set(id, { resolve, reject, cancel });
      const message: TakeMessage = { [TAG]: 'take', id, key, interval, tolerance };
      this.#channel.send?.(message, undefined, undefined, (err: Error | null) => {
        if (err === null || !this.#pending.delete(id)) return;
        cancel();
        reject(err);
      });
    });
  }

  close(): void {
    this.#channel.off('message', this.#onMessage);
    for (const pending of this.#pending.values()) {
      pending.cancel();
      pending.reject(new Error('closed'));
    }
    this.#pending.clear();
  }
}

/** In the primary: one table answers every worker, so the budget is the edge's, not the worker's. Returns the 'message' listener. */
export function answerRateRequests(table: GcraTable): (worker: Worker, message: unknown) => void {
  return (worker, message) => {
    const m = message as Partial<TakeMessage> | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'take' || typeof m.key !== 'string') return;
    const decision = table.take(m.key, Date.now(), Number(m.interval), Number(m.tolerance));
    const answer: AnswerMessage = { [TAG]: 'answer', id: Number(m.id), allowed: decision.allowed, ahead: decision.ahead };
    if (worker.isConnected()) worker.send(answer);
  };
}
