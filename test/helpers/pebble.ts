import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { request, type Agent } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { makeCa, makeLeaf } from '../../scripts/certs.mjs';
import { tempDir } from './edge.js';
import { deadPort, fetchText } from './net.js';
import { skipWithoutCommands } from './tools.js';
import { startWsBackend } from './upstream.js';

type Tap = { teardown(fn: () => unknown): void };

/** The skip value of every pebble test: skipped on a machine without pebble, a failure under CI. */
export function pebbleSkip(): string | false {
  return skipWithoutCommands(['pebble', 'pebble-challtestsrv']);
}

/** Test host names: challtestsrv resolves every name to 127.0.0.1. */
export const HOST_A = 'a.gatehouse.test';
export const HOST_B = 'b.gatehouse.test';

export interface Pebble {
  /** The ACME directory URL. */
  readonly directory: string;
  /** PEM file of the CA behind pebble's own HTTPS (for tls.acme.ca). */
  readonly caFile: string;
  readonly caPem: string;
  /** Pebble's issuing root this run (it makes a new one per start): what clients of Gatehouse trust. */
  root(): Promise<string>;
  /** pebble's and challtestsrv's output so far. */
  output(): string;
  /** New orders pebble saw (POST to its newOrder URL). */
  orders(): number;
  stop(): Promise<void>;
}

export interface PebbleOptions {
  /** Where pebble dials for HTTP-01 and TLS-ALPN-01: Gatehouse's test :80 and :443. */
  readonly httpPort: number;
  readonly tlsPort: number;
  /** Certificate lifetime in seconds (pebble's certificateValidityPeriod); default pebble's 5 years. */
  readonly validitySeconds?: number;
  /** Reuse this port (restart tests); default a free one. */
  readonly port?: number;
}

/** Start challtestsrv (DNS: every name is 127.0.0.1) and pebble on free loopback ports; both stopped by PID at teardown. */
export async function startPebble(t: Tap, dir: string, options: PebbleOptions): Promise<Pebble> {
  const [acmePort, mgmtPort, dnsPort, challMgmt] = await Promise.all([options.port ?? deadPort(), deadPort(), deadPort(), deadPort()]);
  const pki = join(dir, 'pebble-pki');
  const ca = makeCa(pki, { name: 'pebble-https test CA' });
  const leaf = makeLeaf(pki, { ca, basename: 'pebble', sans: ['localhost', '127.0.0.1'] });
  const caPem = readFileSync(ca.cert, 'utf8');
  const configFile = join(dir, `pebble-${acmePort}.json`);
  writeFileSync(configFile, JSON.stringify({
    pebble: {
      listenAddress: `127.0.0.1:${acmePort}`, managementListenAddress: `127.0.0.1:${mgmtPort}`,
      certificate: leaf.fullchain, privateKey: leaf.key, httpPort: options.httpPort, tlsPort: options.tlsPort,
      ocspResponderURL: '', externalAccountBindingRequired: false,
      ...(options.validitySeconds === undefined ? {} : { certificateValidityPeriod: options.validitySeconds }),
    },
  }));
  let out = '';
  const children: ChildProcess[] = [];
  const own = (child: ChildProcess): void => {
    children.push(child);
    child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr?.on('data', (d: Buffer) => { out += d.toString(); });
    t.teardown(() => { if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL'); });
  };
  own(spawn('pebble-challtestsrv', ['-dns01', `127.0.0.1:${dnsPort}`, '-http01', '', '-https01', '', '-tlsalpn01', '', '-management', `127.0.0.1:${challMgmt}`, '-defaultIPv4', '127.0.0.1', '-defaultIPv6', ''], { stdio: ['ignore', 'pipe', 'pipe'] }));
  own(spawn('pebble', ['-config', configFile, '-dnsserver', `127.0.0.1:${dnsPort}`], {
    stdio: ['ignore', 'pipe', 'pipe'],
    // No random validation sleeps; nonces always accepted and no authorization reuse, so every order really validates.
    env: { ...process.env, PEBBLE_VA_NOSLEEP: '1', PEBBLE_WFE_NONCEREJECT: '0', PEBBLE_AUTHZREUSE: '0' },
  }));
  const directory = `https://127.0.0.1:${acmePort}/dir`;
  for (let i = 0; ; i++) {
    const ok = await fetchText(directory, caPem).then((r) => r.body.includes('newOrder'), () => false);
    if (ok) break;
    if (i > 200) throw new Error(`pebble did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const caFile = join(dir, `pebble-https-ca-${acmePort}.pem`);
  writeFileSync(caFile, caPem);
  return {
    directory, caFile, caPem,
    root: async () => (await fetchText(`https://127.0.0.1:${mgmtPort}/roots/0`, caPem)).body,
    output: () => out,
    orders: () => (out.match(/POST \/order-plz/g) ?? []).length,
    async stop() {
      await Promise.all(children.map((c) => (c.exitCode !== null || c.signalCode !== null ? undefined : new Promise<void>((resolve) => { c.once('exit', () => resolve()); c.kill('SIGTERM'); }))));
    },
  };
}

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

/** GET / for HOST_A through `agent` (keep-alive): the status, and whether an already open connection carried it. */
export function keptAliveGet(agent: Agent, port: number): Promise<{ status: number; reused: boolean }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/', servername: HOST_A, headers: { host: HOST_A }, agent }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0, reused: req.reusedSocket }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Poll `probe` every 100 ms until it gives a value; `what` is evaluated on timeout (so it can show logs). */
export async function until<T>(probe: () => Promise<T | undefined>, what: string | (() => string), ms = 30_000): Promise<T> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 100))) {
    const value = await probe().catch(() => undefined);
    if (value !== undefined) return value;
  }
  throw new Error(`timed out waiting for ${typeof what === 'string' ? what : what()}`);
}

/** What an ACME test runs against: pebble and challtestsrv, an app backend, and the ports and storage Gatehouse gets. */
export interface Stack {
  readonly dir: string;
  readonly pebble: Pebble;
  /** Gatehouse's :80 and :443 (pebble validates through them). */
  readonly http: number;
  readonly https: number;
  /** tls.acme.storage. */
  readonly storage: string;
  /** Pebble's issuing root, what a client of Gatehouse trusts. */
  readonly root: string;
  /** acmeConfig for this stack; `o` overrides the ports or adds challenge, admin, extra. */
  config(o?: Partial<Omit<AcmeYaml, 'pebble' | 'backend' | 'storage'>>): string;
}

/** A temp dir (removed at teardown), pebble with `validitySeconds` certificates (default pebble's), a `ws` app backend. */
export async function stack(t: Tap, validitySeconds?: number): Promise<Stack> {
  const dir = tempDir(t, 'gatehouse-acme-');
  const [http, https] = await Promise.all([deadPort(), deadPort()]);
  const pebble = await startPebble(t, dir, { httpPort: http, tlsPort: https, ...(validitySeconds === undefined ? {} : { validitySeconds }) });
  const backend = await startWsBackend(t, 'app');
  const storage = join(dir, 'acme');
  const root = await pebble.root();
  return { dir, pebble, http, https, storage, root, config: (o = {}) => acmeConfig({ pebble, backend: backend.address, storage, http, https, ...o }) };
}

export interface AcmeYaml {
  readonly pebble: Pebble;
  readonly backend: string;
  readonly storage: string;
  readonly http: number | false;
  readonly https: number;
  readonly challenge?: 'http-01' | 'tls-alpn-01';
  /** Also listen.admin on a free loopback port (for /metrics). */
  readonly admin?: boolean;
  /** YAML appended at the top level (e.g. `workers: 2`). */
  readonly extra?: string;
  /** tls.acme.directory and tls.acme.ca instead of pebble's own (the ARI front). */
  readonly directory?: string;
  readonly caFile?: string;
  /** tls.acme.profile. */
  readonly profile?: string;
}

/** A Gatehouse config with tls.acme and no certificate files, serving HOST_A and HOST_B. */
function acmeConfig(o: AcmeYaml): string {
  return `
listen: { http: ${o.http === false ? 'false' : `"127.0.0.1:${o.http}"`}, https: "127.0.0.1:${o.https}"${o.admin === true ? ', admin: "127.0.0.1:0"' : ''} }
tls:
  watch: { settle: 100ms, recheck: 1h }
  acme: { directory: "${o.directory ?? o.pebble.directory}", ca: "${o.caFile ?? o.pebble.caFile}", storage: "${o.storage}", challenge: ${o.challenge ?? 'http-01'}${o.profile === undefined ? '' : `, profile: ${o.profile}`} }
upstreams: { app: { targets: ["${o.backend}"] } }
sites: [{ hosts: [${HOST_A}, ${HOST_B}], routes: [{ path: /, upstream: app }] }]
${o.extra ?? ''}
`;
}
