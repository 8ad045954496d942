// Issue 29 item 4: while an upstream has no healthy target every request fails the same way.
// Each request keeps its access line (info, with the error code); the warning is per cause:
// the first at once, then one line per second with how many more there were.
import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { deadPort, get } from './helpers/net.js';

const REQUESTS = 40;

t.test('an outage: one access line per request, warnings rate-limited per cause with a count', async (t) => {
  const { port, logs } = await startEdge(t, basicConfig([`127.0.0.1:${await deadPort()}`]));
  for (let i = 0; i < REQUESTS; i++) t.equal((await get(port, `/r${i}`)).status, 502, `request ${i} answered 502`);
  const access = await waitFor(() => {
    const lines = logs.lines.filter((l) => l.msg === 'request');
    return lines.length >= REQUESTS ? lines : undefined;
  }, 'an access line per request');
  t.ok(access.every((l) => l.level === 30 && typeof l.code === 'string' && (l.code as string).startsWith('EDGE_ERR_')), 'every access line is info and names its EDGE_ERR_ code');
  const codes = new Set(access.map((l) => l.code as string));
  t.ok(codes.has('EDGE_ERR_NO_HEALTHY_TARGET'), `the target was marked down and requests failed with EDGE_ERR_NO_HEALTHY_TARGET (saw ${[...codes].join(', ')})`);
  // Wait past one interval so every cause has had its count line.
  await waitFor(() => (logs.lines.some((l) => l.level === 40 && l.event === 'request-failed' && (l.suppressed as number) > 0) ? true : undefined), 'a count line', 3000);
  await new Promise((r) => setTimeout(r, 1100));
  const warnings = logs.lines.filter((l) => l.level === 40 && l.event === 'request-failed');
  for (const code of codes) {
    const mine = warnings.filter((l) => l.code === code);
    // A first line stands for one failure; a count line for the `suppressed` ones since.
    const told = mine.filter((l) => l.suppressed === 0).length + mine.reduce((sum, l) => sum + (l.suppressed as number), 0);
    t.equal(told, access.filter((l) => l.code === code).length, `${code}: the warnings account for every failed request`);
    t.ok(mine.length <= 3, `${code}: ${mine.length} warning lines for ${told} failures (first at once, then counts per second)`);
    t.equal(mine[0]?.suppressed, 0, `${code}: the first warning is written at once`);
  }
  t.notOk(logs.lines.some((l) => l.msg === 'request' && l.level === 40), 'no per-request warn line');
});

async function waitFor<T>(probe: () => T | undefined, what: string, ms = 5000): Promise<T> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 20))) {
    const value = probe();
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}
