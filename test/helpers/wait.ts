/**
 * Bounded waits: every wait in a test ends, and one that ends by running out of time fails with
 * what it was waiting for (a bare `await` on an event that never comes hangs until tap's own
 * timeout, which names nothing).
 */

/** `promise`'s value, or a rejection naming `what` after `ms`. */
export async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** Poll `check` every 10 ms until it holds; rejects naming `what` after `ms`. */
export async function until(ms: number, check: () => boolean, what: string): Promise<void> {
  for (const start = Date.now(); !check(); await new Promise((r) => setTimeout(r, 10))) {
    if (Date.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
  }
}

/**
 * Keeps this process busy (a synchronous spin: no timer, no I/O runs) until `check` holds, as a
 * worker reading a burst of pipelined requests is; throws naming `what` after `ms`. For tests of
 * what a process sees once it gets back to its event loop late.
 */
export function stallUntil(ms: number, check: () => boolean, what: string): void {
  for (const start = performance.now(); !check();) {
    if (performance.now() - start > ms) throw new Error(`${what}: not within ${ms} ms`);
  }
}
