import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createServer } from 'node:net';
import { connect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { deadPort, rawTls } from './helpers/net.js';
import { run } from './helpers/process.js';
import { startBackend } from './helpers/upstream.js';

/*
 * The bench's count mode (bench/count-load.mjs: exactly N operations, connections opened before
 * the caller's clock starts) and the h2relay-1 floor (bench/floor.mjs h2-relay: Node's core h2
 * stream API over the pooled raw upstream). Small bounded counts: these check that the bench
 * code paths work end to end, never how fast anything is.
 */
const BENCH = join(import.meta.dirname, '..', 'bench');
type Tap = Parameters<typeof startBackend>[0];

interface CountResult { ops: number; errors: number; seconds: number; ready: unknown }

/** Runs count-load.mjs to its result; `between` runs after "ready" and before "go". Killed after 60 s. */
async function countLoad(t: Tap, args: readonly string[], between: () => void = () => {}): Promise<CountResult> {
  const child = spawn(process.execPath, [join(BENCH, 'count-load.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  const lines: string[] = [];
  let text = '';
  let wake = (): void => {};
  child.stdout.on('data', (d: Buffer) => {
    text += d.toString();
    const parts = text.split('\n');
    text = parts.pop() ?? '';
    lines.push(...parts.filter(Boolean));
    wake();
  });
  child.on('exit', () => wake());
  const next = async (): Promise<string> => {
    while (lines.length === 0 && child.exitCode === null && child.signalCode === null) await new Promise<void>((r) => { wake = r; });
    const line = lines.shift();
    if (line === undefined) throw new Error(`count-load ${args.join(' ')} ended without a line:\n${stderr}`);
    return line;
  };
  try {
    const ready: unknown = JSON.parse(await next());
    between();
    child.stdin.write('go\n');
    return { ...(JSON.parse(await next()) as Omit<CountResult, 'ready'>), ready };
  } finally {
    clearTimeout(guard);
  }
}

/** Waits (bounded, 20 s) until `port` completes a TLS handshake offering `alpn`. */
async function tlsUp(port: number, alpn: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect({ host: '127.0.0.1', port, servername: 'localhost', rejectUnauthorized: false, ALPNProtocols: [alpn] }, () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (up) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing answered TLS (${alpn}) on ${port} within 20 s`);
}

function floor(t: Tap, mode: string, port: number, cert: string, key: string, backend: string): ChildProcess {
  const child = spawn(process.execPath, [join(BENCH, 'floor.mjs'), mode, String(port), cert, key, backend], { stdio: 'ignore' });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  return child;
}

t.test('h2relay-1: every h2 stream relayed to the backend over pooled raw sockets, counted exactly', async (t) => {
  const certs = await testCerts();
  const backend = await startBackend(t, (_req, res) => res.end('x'.repeat(100)));
  const port = await deadPort();
  floor(t, 'h2-relay', port, certs.a.cert, certs.a.key, backend.address);
  await tlsUp(port, 'h2');
  const r = await countLoad(t, ['--mode=h2', `--port=${port}`, '--count=40', '--connections=2', '--streams=4', `--ca=${certs.ca.cert}`]);
  t.same(r.ready, { ready: true }, 'connections open before the clock starts');
  t.same({ ops: r.ops, errors: r.errors }, { ops: 40, errors: 0 }, 'exactly 40 answers, all 200');
  t.equal(backend.seen.length, 40, 'each stream reached the backend once');
  t.equal(backend.seen[0]?.headers['x-forwarded-proto'], 'https');
  t.ok(backend.connections <= 8, `upstream sockets pooled: ${backend.connections} for 40 requests`);
});

t.test('tlsrelay-1: keep-alive requests cut out of the TLS bytes, relayed in order and answered whole, counted exactly', async (t) => {
  const certs = await testCerts();
  const backend = await startBackend(t, (req, res) => res.end((req.url ?? '').padEnd(100, 'x')));
  const port = await deadPort();
  floor(t, 'tls-relay', port, certs.a.cert, certs.a.key, backend.address);
  await tlsUp(port, 'http/1.1');
  const r = await countLoad(t, ['--mode=keepalive', `--port=${port}`, '--count=40', '--connections=2', `--ca=${certs.ca.cert}`]);
  t.same({ ops: r.ops, errors: r.errors }, { ops: 40, errors: 0 }, 'exactly 40 answers, all 200');
  t.equal(backend.seen.length, 40, 'each request reached the backend once');
  t.equal(backend.seen[0]?.headers.host, 'localhost', 'with its Host');
  t.equal(backend.seen[0]?.headers['x-forwarded-proto'], 'https');
  t.ok(backend.connections <= 4, `upstream sockets pooled: ${backend.connections} for 40 requests`);
  // Two requests in one write (pipelined): both answered, in order.
  const raw = await rawTls(port, 'GET /one HTTP/1.1\r\nHost: localhost\r\n\r\nGET /two HTTP/1.1\r\nHost: localhost\r\n\r\n', { waitMs: 1000 });
  t.match(raw, /^HTTP\/1\.1 200 OK\r\n[\s\S]*strict-transport-security: [\s\S]*\r\n\r\n\/onex+HTTP\/1\.1 200 OK\r\n[\s\S]*\r\n\r\n\/twox+$/);
});

t.test('count mode through Gatehouse: keep-alive, new connections and h2, exactly N each, set-up before the clock', async (t) => {
  const certs = await testCerts();
  const backend = await startBackend(t, (_req, res) => res.end('x'.repeat(100)));
  const { port } = await startEdge(t, basicConfig([backend.address], 'log: { level: warn }'));
  const ca = `--ca=${certs.ca.cert}`;

  let seenAtGo = -1;
  const keepalive = await countLoad(t, ['--mode=keepalive', `--port=${port}`, '--count=30', '--connections=3', ca], () => { seenAtGo = backend.seen.length; });
  t.same(keepalive.ready, { ready: true });
  t.same({ ops: keepalive.ops, errors: keepalive.errors }, { ops: 30, errors: 0 });
  t.equal(seenAtGo, 0, 'no request was sent before "go"');
  t.equal(backend.seen.length, 30);

  const before = backend.seen.length;
  const handshakes = await countLoad(t, ['--mode=handshake', `--port=${port}`, '--count=6', '--connections=2', ca]);
  t.same({ ops: handshakes.ops, errors: handshakes.errors }, { ops: 6, errors: 0 }, 'six new connections, one request each');
  t.equal(backend.seen.length - before, 6);

  const h2 = await countLoad(t, ['--mode=h2', `--port=${port}`, '--count=20', '--connections=2', '--streams=3', ca]);
  t.same({ ops: h2.ops, errors: h2.errors }, { ops: 20, errors: 0 });
});

t.test('run.mjs refuses a target port something already listens on, rather than measuring that server', async (t) => {
  const taken = await deadPort();
  const squatter = createServer((s) => s.destroy());
  await new Promise<void>((resolve) => squatter.listen(taken, '127.0.0.1', resolve));
  t.teardown(() => squatter.close());
  // The first target takes --port + 2.
  const r = await run(process.execPath, [join(BENCH, 'run.mjs'), '--only', 'floor-1', '--scenarios', 'keepalive', '--count', '10', '--runs', '1', '--port', String(taken - 2)], 60_000);
  t.not(r.code, 0, 'the bench stops');
  t.match(r.stderr, `127.0.0.1:${taken} is already in use`, 'and says which port, and what to do');
  t.match(r.stderr, '--port');
});
