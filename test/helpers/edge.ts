import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig, formatProblem } from '../../src/config/load.js';
import { Edge, type BoundAddresses } from '../../src/edge.js';
import { testCerts, type TestCerts } from './certs.js';

// Releases a client can abort through http2 (src/lifecycle/node-defects.ts) serve no h2 by
// default; the suite accepts that defect so its h2 tests run on every Node line (edges it
// spawns inherit this). test/node-defects.test.ts and the fuzz test check the default.
process.env.GATEHOUSE_ACCEPT_NODE_DEFECTS ??= 'http2';

type Tap = { teardown(fn: () => unknown): void };

/** The Strict-Transport-Security value of the default `hsts` settings (max-age one year), as every answer on :443 carries it. */
export const HSTS = 'max-age=31536000';

/** Log lines an in-process edge wrote, parsed. */
export class LogCapture extends Writable {
  readonly lines: Record<string, unknown>[] = [];
  override _write(chunk: Buffer, _enc: BufferEncoding, done: () => void): void {
    for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.lines.push(JSON.parse(line) as Record<string, unknown>);
    done();
  }
  find(pred: (l: Record<string, unknown>) => boolean): Record<string, unknown> | undefined {
    return this.lines.find(pred);
  }

  /** The first line matching `pred`, waiting for it up to `ms` (request lines follow the response). */
  async next(pred: (l: Record<string, unknown>) => boolean, ms = 2000): Promise<Record<string, unknown> | undefined> {
    for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 20))) {
      const line = this.lines.find(pred);
      if (line !== undefined) return line;
    }
    return undefined;
  }
}

export interface RunningEdge {
  readonly edge: Edge;
  readonly addresses: BoundAddresses;
  readonly port: number;
  readonly logs: LogCapture;
  readonly dir: string;
  readonly certs: TestCerts;
}

/** A fresh temp dir removed at teardown. */
export function tempDir(t: Tap, prefix = 'gatehouse-test-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }));
  return dir;
}

/** What writeConfigFile wrote: the file, its (temp) directory, the test certificates it names. */
export interface ConfigFile {
  readonly file: string;
  readonly dir: string;
  readonly certs: TestCerts;
}

/**
 * Write YAML to gatehouse.yaml in `dir` (default a fresh temp dir): text whose `{{cert}}`/`{{key}}`
 * (leaf a) and `{{certB}}`/`{{keyB}}` become the test certificates' paths, or a function of them.
 */
export async function writeConfigFile(t: Tap, yaml: string | ((certs: TestCerts) => string), dir = tempDir(t)): Promise<ConfigFile> {
  const certs = await testCerts();
  const text = (typeof yaml === 'string' ? yaml : yaml(certs))
    .replaceAll('{{cert}}', certs.a.cert).replaceAll('{{key}}', certs.a.key)
    .replaceAll('{{certB}}', certs.b.cert).replaceAll('{{keyB}}', certs.b.key);
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, text);
  return { file, dir, certs };
}

/**
 * Start an in-process edge from YAML text (placeholders as writeConfigFile); listeners default
 * to 127.0.0.1:0 when not given. Teardown is registered before anything can fail.
 */
export async function startEdge(t: Tap, yaml: string): Promise<RunningEdge> {
  const { file, dir, certs } = await writeConfigFile(t, yaml);
  const { config, problems } = await loadConfig(file);
  if (config === undefined) throw new Error(`test config invalid:\n${problems.map(formatProblem).join('\n')}`);
  const logs = new LogCapture();
  const edge = await Edge.create(config, { logDestination: logs });
  t.teardown(() => edge.close());
  const addresses = await edge.start();
  return { edge, addresses, port: addresses.https.port, logs, dir, certs };
}

/**
 * Reload a running in-process edge with YAML (placeholders as writeConfigFile), written over its
 * gatehouse.yaml so relative paths resolve beside it; throws with the problems when it is invalid.
 */
export async function reloadEdge(t: Tap, running: RunningEdge, yaml: string): Promise<Awaited<ReturnType<Edge['reload']>>> {
  const { file } = await writeConfigFile(t, yaml, running.dir);
  const { config, problems } = await loadConfig(file);
  if (config === undefined) throw new Error(`reloaded test config invalid:\n${problems.map(formatProblem).join('\n')}`);
  return running.edge.reload(config);
}

/** The usual test config around one upstream; `extra` is appended verbatim (YAML). */
export function basicConfig(targets: readonly string[], extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates: [{ cert: "{{cert}}", key: "{{key}}" }]
upstreams:
  app: { targets: [${targets.map((x) => `"${x}"`).join(', ')}] }
sites:
  - hosts: [localhost, app.test, "*.wild.test"]
    routes: [{ path: /, upstream: app }]
${extra}`;
}

/**
 * Both test certificates (leaf a, then leaf b) and one site per entry of `sites`, every site
 * routed to `target`; `extra` is YAML placed after tls (e.g. more tls keys).
 */
export function twoCertConfig(sites: readonly (readonly string[])[], target = '127.0.0.1:9', extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  certificates:
    - { cert: "{{cert}}", key: "{{key}}" }
    - { cert: "{{certB}}", key: "{{keyB}}" }
${extra}
upstreams:
  app: { targets: ["${target}"] }
sites:
${sites.map((hosts) => `  - hosts: [${hosts.map((h) => `"${h}"`).join(', ')}]\n    routes: [{ path: /, upstream: app }]`).join('\n')}
`;
}
