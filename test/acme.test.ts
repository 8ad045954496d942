import { X509Certificate } from 'node:crypto';
import { statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { startEdge, tempDir, type RunningEdge } from './helpers/edge.js';
import { deadPort } from './helpers/net.js';
import { pebbleMissing, startPebble, type Pebble } from './helpers/pebble.js';
import { startWsBackend } from './helpers/ws.js';

/*
 * Gatehouse's own ACME client against a real CA on loopback: pebble, with challtestsrv as its
 * DNS (every name is 127.0.0.1), validating through Gatehouse's real :80 and :443 listeners.
 */
if (pebbleMissing !== false && process.env.CI !== undefined) t.fail(`CI must have pebble (.ci/run installs it): ${pebbleMissing}`);
const skip = pebbleMissing;
const A = 'a.gatehouse.test';
const B = 'b.gatehouse.test';

/** The serial a TLS client verifying against `root` is served for `servername`; rejects on a bad chain. */
export function servedSerial(port: number, servername: string, root: string, alpn?: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: root, ...(alpn ? { ALPNProtocols: alpn } : {}) }, () => {
      resolve(new X509Certificate(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).serialNumber);
      s.end();
    });
    s.on('error', reject);
  });
}

async function until<T>(probe: () => Promise<T | undefined>, what: string, ms = 30_000): Promise<T> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 100))) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface Stack {
  readonly pebble: Pebble;
  readonly http: number;
  readonly https: number;
}

async function stack(t: { teardown(fn: () => unknown): void }, dir: string, validitySeconds?: number): Promise<Stack> {
  const [http, https] = await Promise.all([deadPort(), deadPort()]);
  const pebble = await startPebble(t, dir, { httpPort: http, tlsPort: https, ...(validitySeconds === undefined ? {} : { validitySeconds }) });
  return { pebble, http, https };
}

function acmeConfig(s: Stack, backend: string, storage: string, extra = '', challenge = 'http-01'): string {
  return `
listen: { http: "127.0.0.1:${s.http}", https: "127.0.0.1:${s.https}" }
tls:
  watch: { settle: 100ms, recheck: 1h }
  acme: { directory: "${s.pebble.directory}", ca: "${s.pebble.caFile}", storage: "${storage}", challenge: ${challenge} }
${extra}
upstreams: { app: { targets: ["${backend}"] } }
sites: [{ hosts: [${A}, ${B}], routes: [{ path: /, upstream: app }] }]
`;
}

t.test('a config with only tls.acme gets certificates for two hosts through HTTP-01 on :80', { skip, timeout: 120_000 }, async (t) => {
  const dir = tempDir(t, 'gatehouse-acme-');
  const s = await stack(t, dir);
  const backend = await startWsBackend(t, 'app');
  const storage = join(dir, 'acme');
  const edge: RunningEdge = await startEdge(t, acmeConfig(s, backend.address, storage));
  const root = await s.pebble.root();
  const serialA = await until(() => servedSerial(s.https, A, root), `a pebble certificate for ${A}\n${s.pebble.output()}`);
  const serialB = await until(() => servedSerial(s.https, B, root), `a pebble certificate for ${B}`);
  t.not(serialA, serialB, 'one certificate per host');
  const stored = new X509Certificate(await import('node:fs').then((fs) => fs.readFileSync(join(storage, 'certs', A, 'fullchain.pem'))));
  t.equal(stored.serialNumber, serialA, 'the served certificate is the one in storage');
  t.equal(statSync(join(storage, 'certs', A, 'privkey.pem')).mode & 0o777, 0o600, 'the key is mode 0600');
  t.equal(s.pebble.orders(), 2, 'two orders');
  t.ok(edge.logs.find((l) => l.event === 'acme-issued' && l.host === A), 'issuance logged');
  // Still a redirect for everything else on :80.
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port: s.http, path: '/x', headers: { host: A } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
  });
  t.equal(status, 301);
});
