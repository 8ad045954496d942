import type { Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import type { CacheStoreConfig } from '../config/cache.js';
import type { Logger } from '../log.js';
import type { PurgeTarget, ResponseCache } from './cache.js';
import { DiskStore } from './disk.js';

const PURGE = 'gatehouse-cache-purge';
const PURGED = 'gatehouse-cache-purged';

interface PurgeMessage { readonly type: typeof PURGE; readonly id: string; readonly what: PurgeTarget }
interface PurgedMessage { readonly type: typeof PURGED; readonly id: string; readonly purged: number }

/**
 * With `workers` the primary owns the admin listener while each worker holds its own memory
 * tier: a purge is told to every worker (each answers with what it dropped, or counts as 0
 * after `ms`), and the shared disk tier is purged once, here. Resolves with the entries removed
 * across all tiers (an answer held by two workers counts twice).
 */
export function clusterPurge(store: CacheStoreConfig, log: Logger): (workers: readonly Worker[], what: PurgeTarget, ms?: number) => Promise<number> {
  const disk = store.path === null ? undefined : new DiskStore(store.path, store.maxSize, log);
  return async (workers, what, ms = 2000) => {
    const id = randomUUID();
    const replies = workers.map((w) => new Promise<number>((resolve) => {
      const heard = (m: unknown): void => {
        const reply = m as Partial<PurgedMessage> | null;
        if (reply?.type !== PURGED || reply.id !== id) return;
        clearTimeout(timer);
        w.off('message', heard);
        resolve(reply.purged ?? 0);
      };
      const timer = setTimeout(() => { w.off('message', heard); resolve(0); }, ms);
      w.on('message', heard);
      w.send({ type: PURGE, id, what } satisfies PurgeMessage);
    }));
    const fromDisk = disk === undefined ? 0 : 'key' in what ? await disk.delete(what.key) : await disk.deletePrefix(what.prefix);
    return (await Promise.all(replies)).reduce((a, b) => a + b, fromDisk);
  };
}

/** In a worker: answer the primary's purges from this process's memory tier. Returns the remover. */
export function answerPurges(cache: () => ResponseCache | undefined): () => void {
  const heard = (m: unknown): void => {
    const message = m as Partial<PurgeMessage> | null;
    if (message?.type !== PURGE || message.id === undefined || message.what === undefined) return;
    const purged = cache()?.purgeMemory(message.what) ?? 0;
    process.send?.({ type: PURGED, id: message.id, purged } satisfies PurgedMessage);
  };
  process.on('message', heard);
  return () => process.off('message', heard);
}
