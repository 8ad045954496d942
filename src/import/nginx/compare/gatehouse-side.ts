import { Writable } from 'node:stream';
import { parse, stringify } from 'yaml';
import { formatProblem, parseConfig } from '../../../config/load.js';
import { Edge } from '../../../edge.js';
import { normaliseAddress } from './targets.js';

/** What the imported YAML is pointed at for the run: the same stand-ins and certificate as nginx, its own ports. */
export interface GatehouseRewrite {
  /** Original port → this Gatehouse's loopback port for it. */
  readonly ports: ReadonlyMap<number, number>;
  readonly standIn: (address: string) => string | undefined;
  readonly cert: string;
  readonly key: string;
}

type Obj = Record<string, unknown>;

const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The port a `listen.*` value names (`443`, `"127.0.0.1:8443"`, `"[::]:443"`), or undefined for `false`. */
export function listenPort(value: unknown): number | undefined {
  if (typeof value === 'number') return value;
  if (typeof value !== 'string') return undefined;
  const m = /(?:^|:)(\d+)$/.exec(value);
  return m === null ? undefined : Number(m[1]);
}

/** The original ports the YAML listens on: `https` first (its first is the one redirects name), then `http`. */
export function yamlPorts(yamlText: string): { https: number[]; http: number | undefined } {
  const doc = parse(yamlText) as unknown;
  const listen = isObj(doc) && isObj(doc.listen) ? doc.listen : {};
  const https = listen.https === undefined ? [443] : (Array.isArray(listen.https) ? listen.https : [listen.https]).map(listenPort).filter((p) => p !== undefined);
  const http = listen.http === undefined ? 80 : listenPort(listen.http);
  return { https, http };
}

/**
 * The imported YAML pointed at loopback: listens moved to this run's ports, the test certificate
 * instead of the real ones (and instead of ACME), targets moved to the stand-ins, one process,
 * no admin listener, warnings-only logs. Everything else stays exactly as the import wrote it.
 */
export function rewriteYaml(yamlText: string, to: GatehouseRewrite): string {
  const doc = parse(yamlText) as unknown;
  if (!isObj(doc)) throw new Error('the imported YAML is not a mapping');
  const moved = (v: unknown): unknown => {
    const port = listenPort(v);
    return port === undefined ? v : `127.0.0.1:${to.ports.get(port) ?? 1}`;
  };
  const listen = isObj(doc.listen) ? doc.listen : {};
  const https = listen.https ?? 443;
  doc.listen = {
    ...listen,
    http: listen.http === false ? false : moved(listen.http ?? 80),
    https: Array.isArray(https) ? https.map(moved) : moved(https),
  };
  delete (doc.listen as Obj).admin;
  const tls = isObj(doc.tls) ? doc.tls : {};
  delete tls.acme;
  doc.tls = { ...tls, certificates: [{ cert: to.cert, key: to.key }] };
  if (isObj(doc.upstreams)) {
    for (const upstream of Object.values(doc.upstreams)) {
      if (!isObj(upstream) || !Array.isArray(upstream.targets)) continue;
      let plain = false;
      upstream.targets = upstream.targets.map((t: unknown) => {
        if (typeof t !== 'string') return t;
        const standIn = to.standIn(normaliseAddress(t, /^https:/i.test(t) ? 'https' : 'http'));
        if (standIn === undefined) return t;
        plain ||= /^https:/i.test(t);
        return standIn;
      });
      // A stand-in speaks plain HTTP: an https upstream is compared as http on both sides.
      if (plain) delete upstream.tls;
    }
  }
  delete doc.workers;
  doc.log = { level: 'warn' };
  return stringify(doc);
}

/** A running in-process Gatehouse; `close()` drains nothing and stops it. */
export interface RunningGatehouse {
  readonly close: () => Promise<void>;
  /** Its warning and error log lines. */
  readonly log: () => string;
}

/**
 * Start Gatehouse from the rewritten YAML read as if it were `file` (where the import is written:
 * its relative paths resolve there, as they will for the user); rejects with every config error.
 */
export async function startGatehouse(file: string, text: string): Promise<RunningGatehouse> {
  const { config, problems } = parseConfig(text, file);
  if (config === undefined) throw new Error(`the imported YAML does not load:\n${problems.filter((p) => p.severity === 'error').map(formatProblem).join('\n')}`);
  let log = '';
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { log += chunk.toString('utf8'); done(); } });
  const edge = await Edge.create({ ...config, timeouts: { ...config.timeouts, drain: 0 } }, { logDestination: sink });
  try {
    await edge.start();
  } catch (err) {
    await edge.close();
    throw err;
  }
  return { close: () => edge.close(), log: () => log };
}
