import { get } from './net.js';

/** Which target answers each client address: the body of its 200 (the fake upstream's name), else `HTTP <status>`. */
export async function clientMapping(port: number, clients: readonly string[]): Promise<Map<string, string>> {
  const m = new Map<string, string>();
  for (const ip of clients) {
    const reply = await get(port, '/', { localAddress: ip });
    m.set(ip, reply.status === 200 ? reply.body : `HTTP ${reply.status}`);
  }
  return m;
}

/**
 * The mapping once `holds` is true of it, polled every 100 ms for at most 5 s (health checks and
 * failTimeout act on timers a loaded machine can delay); the last mapping when time runs out, so
 * the caller's assertion fails with what it saw.
 */
export async function mappingOnce(port: number, clients: readonly string[], holds: (m: Map<string, string>) => boolean): Promise<Map<string, string>> {
  const deadline = Date.now() + 5000;
  for (;;) {
    const m = await clientMapping(port, clients);
    if (holds(m) || Date.now() > deadline) return m;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** True of a mapping in which every client is on the target named `name`. */
export const onlyOn = (name: string) => (m: Map<string, string>): boolean => [...m.values()].every((v) => v === name);
