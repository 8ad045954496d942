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
 *
 * Batches are written on the event loop (FdSink): a reader of stdout that stalls must not stall
 * the edge (the pipe is non-blocking; a batch that meets a full pipe waits and is retried), and
 * its lines still come out, in order, once the reader reads again — even across SIGTERM. A reader
 * that is gone (EPIPE) costs the lines, never the edge.
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

/** More access lines than a pipe holds (64 KiB on Linux): ~300 bytes each. */
const FLOOD = 1000;

async function flood(port: number, prefix: string): Promise<string[]> {
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  try {
    const paths = Array.from({ length: FLOOD }, (_, i) => `/${prefix}/${i}`);
    const replies = await within(60_000, Promise.all(paths.map((p) => get(port, p, { agent }))), `${FLOOD} requests while stdout is not read (a blocking log write would hang them)`);
    return replies.every((r) => r.status === 200) ? paths : [];
  } finally {
    agent.destroy();
  }
}

t.test('a stdout reader that stalls does not stall the edge; its lines come out in order once it reads, even across SIGTERM', async (t) => {
  const { port, gh } = await edge(t, 'json');
  const stdout = gh.child.stdout!;
  stdout.pause();
  const paths = await flood(port, 'stalled');
  t.equal(paths.length, FLOOD, 'every request answered 200 while nobody read the log');
  stdout.resume();
  await gh.until(() => loggedPaths(gh.output(), 'json').filter((p) => p.startsWith('/stalled/')).length === FLOOD, 'every line once stdout is read again', 20_000);
  const logged = loggedPaths(gh.output(), 'json').filter((p) => p.startsWith('/stalled/'));
  t.same(new Set(logged), new Set(paths), 'each request has its own line, none lost');

  // Again, and the process is told to stop while lines wait for the pipe: its exit writes them.
  stdout.pause();
  const more = await flood(port, 'stopping');
  t.equal(more.length, FLOOD);
  const closed = once(gh.child, 'close');
  gh.child.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 500));
  stdout.resume();
  const [code] = await within(20_000, closed, 'exit after SIGTERM with a full pipe') as [number | null];
  t.equal(code, 0);
  t.equal(loggedPaths(gh.output(), 'json').filter((p) => p.startsWith('/stopping/')).length, FLOOD, 'the lines that waited at exit were written');
});

t.test('a stdout reader that is gone (EPIPE) costs the lines, not the edge', async (t) => {
  const { port, gh } = await edge(t, 'json');
  gh.child.stdout!.destroy();
  const paths = await flood(port, 'gone');
  t.equal(paths.length, FLOOD, 'every request answered 200 with nobody reading stdout');
  t.equal(gh.child.exitCode, null, 'still running');
  t.equal((await get(port, '/after')).status, 200);
});

type Tap = Parameters<typeof writeConfigFile>[0];
