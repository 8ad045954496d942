import { Redis } from 'ioredis';
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

/** How long a decision may wait on Redis before the request is served without one. */
const COMMAND_TIMEOUT_MS = 250;

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
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: 1000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
      keyPrefix: 'gatehouse:rl:',
    });
    redis.on('error', onError);
    redis.defineCommand('gcra', { numberOfKeys: 1, lua: GCRA_LUA });
    this.#redis = redis as GcraRedis;
  }

  async take(key: string, interval: number, tolerance: number): Promise<Decision> {
    const [allowed, ahead] = await this.#redis.gcra(key, String(interval), String(tolerance));
    return { allowed: allowed === 1, ahead: Number(ahead) };
  }

  close(): void {
    this.#redis.disconnect();
  }
}
