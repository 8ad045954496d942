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

/** One decision asked for: [id, key, interval, tolerance]. */
type Take = readonly [number, string, number, number];
/** One decision given: [id, allowed (1) or not (0), ahead]. */
type Answer = readonly [number, 0 | 1, number];

/**
 * Every take a worker asked for in one turn of its event loop, as ONE message: under load a worker
 * reads many (pipelined) requests per turn, and a message each cost the primary and the worker a
 * serialisation and a write apiece, so the channel queued and decisions came after the timeout.
 */
interface TakesMessage {
  readonly [TAG]: 'takes';
  readonly takes: readonly Take[];
}

interface AnswersMessage {
  readonly [TAG]: 'answers';
  readonly answers: readonly Answer[];
}

/** The takes of one message, and its deadline (cancelled when the last one is answered). */
interface Batch {
  remaining: number;
  readonly cancel: () => void;
}

interface Pending {
  resolve(decision: Decision): void;
  reject(err: Error): void;
  batch: Batch | null;
}

/** A worker's end of the cluster channel: `process` in a worker (any IPC channel of that shape). */
export interface RateChannel {
  on(event: 'message', listener: (message: unknown) => void): unknown;
  off(event: 'message', listener: (message: unknown) => void): unknown;
  send?(message: TakesMessage, sendHandle: undefined, options: undefined, callback: (err: Error | null) => void): boolean;
}

/** A worker's view: every decision is the primary's (answerRateRequests below). */
export class ClusterStore implements RateStore {
  readonly kind = 'cluster';
  readonly #channel: RateChannel;
  readonly #pending = new Map<number, Pending>();
  #next = 0;
  /** Takes of this turn, sent together once the turn's I/O is handled (setImmediate). */
  #batch: Take[] = [];
  readonly #batches = new Set<Batch>();
  readonly #onMessage = (message: unknown): void => {
    const m = message as Partial<AnswersMessage> | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'answers' || !Array.isArray(m.answers)) return;
    for (const [id, allowed, ahead] of m.answers) {
      const pending = this.#pending.get(id);
      if (pending === undefined) continue;
      this.#settled(id, pending);
      pending.resolve({ allowed: allowed === 1, ahead: Number(ahead) });
    }
  };

  constructor(channel: RateChannel) {
    this.#channel = channel;
    channel.on('message', this.#onMessage);
  }

  take(key: string, interval: number, tolerance: number): Promise<Decision> {
    return new Promise((resolve, reject) => {
      const id = this.#next++;
      this.#pending.set(id, { resolve, reject, batch: null });
      if (this.#batch.length === 0) setImmediate(() => this.#flush());
      this.#batch.push([id, key, interval, tolerance]);
    });
  }

  #flush(): void {
    const takes = this.#batch;
    this.#batch = [];
    if (takes.length === 0) return;
    const fail = (err: Error): void => {
      for (const [id] of takes) {
        const pending = this.#pending.get(id);
        if (pending === undefined) continue;
        this.#settled(id, pending);
        pending.reject(err);
      }
    };
    // A primary that does not answer in time is treated like an unreachable store: one deadline per message.
    const batch: Batch = {
      remaining: takes.length,
      cancel: afterWaitingIo(DECISION_TIMEOUT_MS, () => fail(new Error(`the primary did not answer within ${DECISION_TIMEOUT_MS}ms`))),
    };
    this.#batches.add(batch);
    for (const [id] of takes) {
      const pending = this.#pending.get(id);
      if (pending !== undefined) pending.batch = batch;
    }
    const message: TakesMessage = { [TAG]: 'takes', takes };
    this.#channel.send?.(message, undefined, undefined, (err: Error | null) => {
      if (err !== null) fail(err);
    });
  }

  /** One take answered or failed: forgotten, and its message's deadline cancelled with the last one. */
  #settled(id: number, pending: Pending): void {
    this.#pending.delete(id);
    const batch = pending.batch;
    if (batch === null || --batch.remaining > 0) return;
    batch.cancel();
    this.#batches.delete(batch);
  }

  close(): void {
    this.#channel.off('message', this.#onMessage);
    for (const batch of this.#batches) batch.cancel();
    this.#batches.clear();
    for (const pending of this.#pending.values()) pending.reject(new Error('closed'));
    this.#pending.clear();
    this.#batch = [];
  }
}

/** In the primary: one table answers every worker, so the budget is the edge's, not the worker's. Returns the 'message' listener. */
export function answerRateRequests(table: GcraTable): (worker: Pick<Worker, 'send' | 'isConnected'>, message: unknown) => void {
  return (worker, message) => {
    const m = message as Partial<TakesMessage> | null;
    if (m === null || typeof m !== 'object' || m[TAG] !== 'takes' || !Array.isArray(m.takes)) return;
    const now = Date.now();
    const answers: Answer[] = [];
    for (const [id, key, interval, tolerance] of m.takes) {
      if (typeof key !== 'string') continue;
      const decision = table.take(key, now, Number(interval), Number(tolerance));
      answers.push([Number(id), decision.allowed ? 1 : 0, decision.ahead]);
    }
    const answer: AnswersMessage = { [TAG]: 'answers', answers };
    if (worker.isConnected()) worker.send(answer);
  };
}
