/**
 * How long a rate-limit decision may wait on its store (the primary over the cluster channel, or
 * Redis) before the request is served without one (fails open, README "Rate limits").
 */
export const DECISION_TIMEOUT_MS = 250;

/**
 * Calls `expire` once `ms` have passed AND the I/O that was already waiting by then has been read.
 * A plain timer is not enough on a busy process: when one callback (a read of many pipelined
 * requests, or a process the OS did not schedule) runs past the deadline, libuv runs the expired
 * timers before it polls again (Node ≥ 20: at the end of that loop iteration; before: at the start
 * of the next), so the timeout fired while the answer sat unread in the pipe or socket, and a
 * decision that came in time was counted `store_error` and the request served past its budget.
 * The timer's callback therefore only queues `expire` with setImmediate, which runs after the next
 * poll: an answer already there is read, and settles the wait, first. Returns the canceller.
 */
export function afterWaitingIo(ms: number, expire: () => void): () => void {
  let immediate: NodeJS.Immediate | undefined;
  const timer = setTimeout(() => { immediate = setImmediate(expire); }, ms);
  return () => {
    clearTimeout(timer);
    if (immediate !== undefined) clearImmediate(immediate);
  };
}
