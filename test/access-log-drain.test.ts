import { Agent } from 'node:https';
import { once } from 'node:events';
import t from 'tap';
import { writeConfigFile } from './helpers/edge.js';
import { deadPort, get, startBackend } from './helpers/net.js';
import { spawnGatehouse, type GatehouseProcess } from './helpers/process.js';
import { within } from './helpers/wait.js';

/*
 * Access lines leave the process in batches (src/log-batch.ts): a line may wait up to 50 ms for
 * others. None may be lost to that: a line written alone still comes out (the batch's timer), and
 * a burst answered just before SIGTERM has every one of its lines on stdout once the process has
 * exited — in JSON and in nginx's combined format, which go through the same batch.
 */

const BURST = 200;

async function edge(t: Tap, access: 'json' | 'combined'): Promise<{ port: number; gh: GatehouseProcess }> {
  const backend = await startBackend(t, (_req, res) => res.end('ok'));
  const port = await deadPort();
  const { file } = await writeConfigFile(t, (c) => `
listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${c.a.cert}", key: "${c.a.key}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
log: { access: ${access} }
timeouts: { drain: 5s }
`);
  return { port, gh: await spawnGatehouse(t, file) };
}

/** The request paths of the access lines printed so far, in either format. */
function loggedPaths(output: string, access: 'json' | 'combined'): string[] {
  const lines = output.split('\n');
  if (access === 'combined') return lines.flatMap((l) => /^\S+ - \S+ \[[^\]]+\] "GET (\S+) HTTP\/1\.1" 200 /.exec(l)?.[1] ?? []);
  return lines.flatMap((l) => {
    if (!l.startsWith('{')) return [];
    const line = JSON.parse(l) as { msg?: string; path?: string; status?: number };
    return line.msg === 'request' && line.status === 200 && line.path !== undefined ? [line.path] : [];
  });
}

for (const access of ['json', 'combined'] as const) {
  t.test(`log.access ${access}: a lone line comes out by itself, and a burst then SIGTERM loses no line`, async (t) => {
    const { port, gh } = await edge(t, access);
    t.equal((await get(port, '/alone')).status, 200);
    await gh.until(() => loggedPaths(gh.output(), access).includes('/alone'), 'the line of a request with no traffic after it', 5000);

    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    t.teardown(() => agent.destroy());
    const paths = Array.from({ length: BURST }, (_, i) => `/burst/${i}`);
    const replies = await within(30_000, Promise.all(paths.map((p) => get(port, p, { agent }))), `${BURST} requests`);
    t.same(replies.filter((r) => r.status !== 200).length, 0, 'every request of the burst answered 200');
    agent.destroy();

    // At once: lines of the burst's last milliseconds are still waiting in the batch.
    const closed = once(gh.child, 'close');
    gh.child.kill('SIGTERM');
    const [code] = await within(20_000, closed, 'exit after SIGTERM') as [number | null];
    t.equal(code, 0);
    const logged = loggedPaths(gh.output(), access).filter((p) => p.startsWith('/burst/'));
    t.equal(logged.length, BURST, 'one access line per request of the burst');
    t.same(new Set(logged), new Set(paths), 'each request of the burst has its own line');
  });
}

type Tap = Parameters<typeof writeConfigFile>[0];
