import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { Directive } from '../parse.js';
import { StandIns } from './backends.js';
import { diffAnswers, type DiffContext, type Difference } from './diff.js';
import { rewriteYaml, startGatehouse, yamlPorts, type RunningGatehouse } from './gatehouse-side.js';
import { listensOf, rewriteNginx } from './nginx-config.js';
import { makeComparePki } from './pki.js';
import { findNginx, freePorts, startNginx, type RunningNginx } from './processes.js';
import { formatReport } from './report.js';
import { requestSet } from './requests.js';
import { mapLimit, send, type Side } from './send.js';
import { collectTargets, walk } from './targets.js';

export interface CompareInput {
  /** The nginx config as read (includes expanded). */
  readonly directives: readonly Directive[];
  /** Where the original's relative paths resolve: nginx's conf directory (`--prefix`, else the file's folder). */
  readonly confDir: string;
  /** The imported Gatehouse YAML, as the import wrote it. */
  readonly yaml: string;
  /** Where that YAML is (or would be) written: its relative paths resolve beside it. */
  readonly yamlFile: string;
  /** The nginx binary; found on PATH (or /usr/sbin) when not given. */
  readonly nginx?: string | undefined;
  /** Where GATEHOUSE_NGINX (the nginx binary to run) is read; process.env when not given. */
  readonly env?: NodeJS.ProcessEnv;
  /** Requests in flight at once (each goes to both sides). */
  readonly concurrency?: number;
}

/** The outcome: the report's lines, and how many differences count (the exit code is 1 when any do). */
export interface CompareOutcome {
  readonly code: 0 | 1 | 2;
  readonly text: string;
  readonly differences: readonly Difference[];
  readonly requests: number;
}

/** Header names the config sets, hides or passes on: compared wherever they appear. */
function configHeaders(ds: readonly Directive[]): Set<string> {
  const names = new Set<string>();
  walk(ds, (d) => {
    if (['add_header', 'proxy_hide_header', 'proxy_set_header'].includes(d.name) && d.args[0] !== undefined) names.add(d.args[0].toLowerCase());
  });
  return names;
}

function serverNames(ds: readonly Directive[]): string[] {
  const names: string[] = [];
  walk(ds, (d) => { if (d.name === 'server_name') names.push(...d.args); });
  return names;
}

/** nginx's version line (`nginx/1.22.1`), for the report. */
function nginxVersion(binary: string): string {
  const v = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return /nginx\/\S+/.exec(`${v.stderr}${v.stdout}`)?.[0] ?? 'nginx';
}

/**
 * Run the original under nginx and the import under Gatehouse, both on loopback with the same
 * stand-in backends and certificate, send the config's request set to both, and diff the answers.
 */
export async function compareImport(input: CompareInput): Promise<CompareOutcome> {
  const binary = input.nginx ?? findNginx(input.env);
  if (binary === undefined) return { code: 2, text: '--compare needs nginx, which is not installed (Debian: apt-get install nginx)', differences: [], requests: 0 };
  const tmp = mkdtempSync(join(tmpdir(), 'gatehouse-compare-'));
  let standIns: StandIns | undefined;
  let nginx: RunningNginx | undefined;
  let gatehouse: RunningGatehouse | undefined;
  try {
    standIns = await StandIns.start(collectTargets(input.directives), tmp);
    const lookup = standIns.lookup.bind(standIns);
    mkdirSync(join(tmp, 'pki'));
    const pki = makeComparePki(join(tmp, 'pki'), serverNames(input.directives));
    const nginxOriginal = [...new Set(listensOf(input.directives).map((l) => l.port))];
    const fromYaml = yamlPorts(input.yaml);
    const gatehouseOriginal = [...new Set([...nginxOriginal, ...fromYaml.https, ...(fromYaml.http === undefined ? [] : [fromYaml.http])])];
    const free = await freePorts(nginxOriginal.length + gatehouseOriginal.length);
    const nPorts = new Map(nginxOriginal.map((p, i) => [p, free[i] as number]));
    const gPorts = new Map(gatehouseOriginal.map((p, i) => [p, free[nginxOriginal.length + i] as number]));
    mkdirSync(join(tmp, 'nginx'));
    const nginxText = rewriteNginx(input.directives, { prefix: join(tmp, 'nginx'), confDir: resolve(input.confDir), ports: nPorts, standIn: lookup, cert: pki.cert, key: pki.key });
    nginx = await startNginx(binary, join(tmp, 'nginx'), nginxText, [...nPorts.values()]);
    try {
      gatehouse = await startGatehouse(input.yamlFile, rewriteYaml(input.yaml, { ports: gPorts, standIn: lookup, cert: pki.cert, key: pki.key }));
    } catch (err) {
      return { code: 1, text: `the import does not run: ${(err as Error).message}\n0 requests compared: 1 counted difference (Gatehouse did not start)`, differences: [], requests: 0 };
    }
    const requests = requestSet(input.directives);
    const nSide: Side = { name: 'nginx', ports: nPorts, caPem: pki.caPem };
    const gSide: Side = { name: 'gatehouse', ports: gPorts, caPem: pki.caPem };
    const ctx: DiffContext = {
      configHeaders: configHeaders(input.directives),
      nginxPorts: invert(nPorts), gatehousePorts: invert(gPorts),
      standIns: invert(standIns.addresses),
    };
    const differences = (await mapLimit(requests, input.concurrency ?? 8, async (r) => {
      const [n, g] = await Promise.all([send(r, nSide), send(r, gSide)]);
      return diffAnswers(r, n, g, ctx);
    })).flat();
    const text = formatReport(requests.length, differences, nginxVersion(binary), nPorts.size);
    return { code: differences.some((d) => d.named === undefined) ? 1 : 0, text, differences, requests: requests.length };
  } finally {
    await gatehouse?.close();
    await nginx?.stop();
    await standIns?.close();
    rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

function invert<K, V>(m: ReadonlyMap<K, V>): Map<V, K> {
  return new Map([...m].map(([k, v]) => [v, k]));
}

/** The conf directory nginx would use for FILE: `--prefix` when given, else the file's folder. */
export function confDirOf(file: string, prefix: string | undefined): string {
  return prefix ?? dirname(resolve(file));
}
