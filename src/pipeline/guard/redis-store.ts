import { Redis } from 'ioredis';
import { afterWaitingIo, DECISION_TIMEOUT_MS } from './deadline.js';
import type { Decision } from './gcra.js';
import type { RateStore } from './rate-store.js';

/**
 * GCRA in one Lua script, so read-decide-write is atomic however many instances share the key.
 * The clock is Redis's own (TIME): instances with skewed clocks still agree. The key expires
 * when its TAT passes, so idle clients cost nothing.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat - now > tolerance then return {0, tostring(tat - now)} end
local nextTat = tat + interval
redis.call('SET', KEYS[1], tostring(nextTat), 'PX', math.ceil(nextTat - now) + 1)
return {1, tostring(nextTat - now)}
`;

type GcraRedis = Redis & { gcra(key: string, interval: string, tolerance: string): Promise<[number, string]> };

export class RedisStore implements RateStore {
  readonly kind = 'redis';
  readonly #redis: GcraRedis;

  /** `onError` hears connection trouble (rate-limited by the caller); decisions then reject at once. */
  constructor(url: string, onError: (err: Error) => void) {
    const redis = new Redis(url, {
      // No queue while disconnected and no retries per command: an unreachable store must fail
      // fast (open), not hold requests until it comes back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      // No commandTimeout: its plain timer fires before a busy process reads a reply already
      // there (deadline.ts); take() keeps its own deadline instead.
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      keyPrefix: 'gatehouse:rl:',
    });
    redis.on('error', onError);
    redis.defineCommand('gcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.#redis = redis as GcraRedis;
  }

  take(key: string, interval: number, tolerance: number): Promise<Decision> {
    return new Promise((resolve, reject) => {
      const cancel = afterWaitingIo(DECISION_TIMEOUT_MS, () => reject(new Error(`redis did not answer within ${DECISION_TIMEOUT_MS}ms`)));
      this.#redis.gcra(key, String(interval), String(tolerance)).then(([allowed, ahead]) => {
        cancel();
        resolve({ allowed: allowed === 1, ahead: Number(ahead) });
      }, (err: unknown) => {
        cancel();
        reject(err instanceof Error ? err : new Error(String(err)));
      });
    });
  }

  close(): void {
    this.#redis.disconnect();
  }
}
