#!/usr/bin/env node
// First: SIGHUP/SIGTERM are held from here on, not left to the kernel default during startup.
import { startupSignals } from './lifecycle/early.js';
import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs as parseUtilArgs } from 'node:util';
import { configJsonSchema, readmeDescriptions } from './config/json-schema.js';
import { formatProblem, loadConfig } from './config/load.js';
import { describeCache } from './config/cache.js';
import { answerPurges } from './cache/workers.js';
import type { Config } from './config/types.js';
import { exposeWorkerMetrics, reportReady, supervise, ticketKeysFromEnv, workerCount } from './cluster.js';
import { Edge } from './edge.js';
import { EdgeError } from './errors.js';
import { defectFor } from './lifecycle/node-defects.js';
import type { StartupSignals, StopSignal } from './lifecycle/signals.js';
import { judgeRuntime, warnAboutRuntime } from './lifecycle/runtime-floor.js';
import { describeAcme } from './tls/acme/report.js';
import { readPair } from './tls/cert-store.js';
import { HYBRID_GROUP, keyExchangeGroups } from './tls/groups.js';
import { importNginxCommand, IMPORT_OPTIONS } from './tools/import-nginx.js';
import { compareCommand } from './tools/import-compare.js';
import { liveCommand, LIVE_OPTIONS } from './tools/live-check.js';
import { routeCommand, ROUTE_OPTIONS } from './tools/route.js';
import { UsageError } from './tools/command.js';
import { watchSettled } from './watch.js';

const USAGE = `Usage:
  gatehouse [--config FILE]          run the edge (FILE defaults to $GATEHOUSE_CONFIG)
  gatehouse check [--config FILE]    validate config and certificates, like nginx -t
  gatehouse route [--config FILE] --ip ADDR [--host HOST] [--path PATH] [--json]
                                     which site, route, upstream and target a client at ADDR gets
  gatehouse check --live https://HOST[:PORT]/ [--http http://HOST[:PORT]/] [--ca FILE] [--ws PATH]
                  [--connect ADDR] [--timeout 5s]
                                     self-test any running edge from outside; exit 1 on any FAIL
  gatehouse schema                   print the config's JSON Schema (for editors: README "Editor support")
  gatehouse import nginx FILE… [--out gatehouse.yaml] [--prefix DIR]
                                     translate an nginx config; report on stderr; exit 1 if
                                     something was not translated, 2 on a parse error
  gatehouse --help | --version

Signals: SIGHUP reloads config and certificates; SIGTERM/SIGINT drain and exit 0.
A SIGHUP during startup is applied once serving; a SIGTERM during startup exits 0.
Docs: README.md (every config key with its default).`;

interface Args {
  readonly command: 'run' | 'check' | 'route' | 'live' | 'schema' | 'import' | 'help' | 'version';
  readonly config: string | undefined;
  /** What follows `route` / `check` for the tool commands, parsed by their own option tables. */
  readonly rest?: readonly string[];
  readonly error?: string;
}

export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): Args {
  let command: Args['command'] = 'run';
  let config = env.GATEHOUSE_CONFIG !== undefined && env.GATEHOUSE_CONFIG !== '' ? env.GATEHOUSE_CONFIG : undefined;
  if (argv[0] === 'import') {
    if (argv.includes('--help') || argv.includes('-h')) return { command: 'help', config };
    return { command: 'import', config, rest: argv.slice(1) };
  }
  if (argv[0] === 'route' || (argv[0] === 'check' && argv.includes('--live'))) {
    if (argv.includes('--help') || argv.includes('-h')) return { command: 'help', config };
    return { command: argv[0] === 'route' ? 'route' : 'live', config, rest: argv.slice(1) };
  }
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--help' || arg === '-h') return { command: 'help', config };
    if (arg === '--version' || arg === '-v') return { command: 'version', config };
    if (arg === 'check' && i === 0) command = 'check';
    else if (arg === 'schema' && i === 0) command = 'schema';
    else if (arg === '--config' || arg === '-c') {
      const value = argv[++i];
      if (value === undefined) return { command, config, error: '--config needs a file path' };
      config = value;
    } else if (arg.startsWith('--config=')) config = arg.slice('--config='.length);
    else return { command, config, error: `unknown argument "${arg}"` };
  }
  return { command, config };
}

function version(): string {
  const pkg = JSON.parse(readFileSync(fileURLToPath(new URL('../package.json', import.meta.url)), 'utf8')) as { version: string };
  return pkg.version;
}

/**
 * `gatehouse check`: every config problem as FILE:LINE:COL, then each certificate's state, in
 * one run: a config error does not hide a missing certificate (like `nginx -t`). Exit 0 when usable.
 */
async function check(path: string): Promise<number> {
  const { config, problems, tls } = await loadConfig(path);
  for (const p of problems) console.log(formatProblem(p));
  const h2Defect = config?.http2.enabled === true ? defectFor('http2') : undefined;
  if (h2Defect !== undefined) console.log(`warning: HTTP/2 will be off on Node ${process.versions.node}: ${h2Defect.what}; run a Node release without it (README "Known limits") to serve h2`);
  const certErrors = tls === undefined ? 0 : await checkCertificates(tls);
  const file = config?.file ?? resolvePath(path);
  const usable = config !== undefined && certErrors === 0;
  if (config !== undefined && config.cache !== null) console.log(describeCache(config.cache, config.sites.reduce((n, s) => n + s.routes.filter((r) => r.cache !== null).length, 0), workerCount(config)));
  // A warning, not an error: the config is usable, the runtime under it is the operator's call.
  const runtime = judgeRuntime();
  console.log(runtime.ok ? `runtime: ${runtime.message}` : `runtime: warning: ${runtime.message}`);
  console.log(usable ? `${file}: configuration is usable` : `${file}: configuration has errors`);
  return usable ? 0 : 1;
}

/** One line per certificate pair; returns how many are unusable. */
async function checkCertificates(tls: Config['tls']): Promise<number> {
  let errors = 0;
  const groups = keyExchangeGroups();
  for (const paths of tls.certificates) {
    try {
      const pair = await readPair(paths, { minVersion: tls.minVersion, ciphers: tls.ciphers, groups });
      const days = Math.floor((pair.notAfter.getTime() - Date.now()) / 86_400_000);
      console.log(`${paths.cert}: ok, serves ${pair.names.join(', ') || '(no DNS names)'}; expires ${pair.notAfter.toISOString()} (in ${days} days)${days < 14 ? ' warning: renew soon' : ''}`);
    } catch (err) {
      errors++;
      console.log(err instanceof EdgeError ? err.message : String(err));
    }
  }
  console.log(`key exchange: ${groups.join(', ')}${groups[0] === HYBRID_GROUP ? ' (post-quantum hybrid first)' : ` (no post-quantum hybrid: OpenSSL ${process.versions.openssl} lacks ${HYBRID_GROUP})`}`);
  if (tls.acme !== null) for (const line of await describeAcme(tls.acme)) console.log(line);
  return errors;
}

async function run(path: string, signals: StartupSignals): Promise<number> {
  // Read before loading: if the file changes while we start, the text differs and a held SIGHUP reloads.
  const startText = readText(path);
  const { config, problems } = await loadConfig(path);
  for (const p of problems) console.error(formatProblem(p));
  if (config === undefined) return 1;
  const worker = cluster.isWorker;
  if (!worker && workerCount(config) > 1) return supervise(config, path, signals);
  // In a worker the primary owns the admin listener (it aggregates every worker's metrics): the
  // edge never has one, at start or on reload, so a reload compares like with like.
  const own = (c: Config): Config => (worker ? { ...c, listen: { ...c.listen, admin: null } } : c);
  let edge: Edge;
  try {
    edge = await Edge.create(own(config), { ticketKeys: ticketKeysFromEnv(process.env), orderCertificates: !worker });
    if (worker) exposeWorkerMetrics(edge.metrics.registry);
    signals.binding();
    await edge.start();
  } catch (err) {
    console.error(err instanceof EdgeError ? `gatehouse: ${err.message}` : err);
    return 1;
  }
  if (worker) {
    answerPurges(() => edge.cache);
    reportReady();
  } else warnAboutRuntime(edge.log);
  return serve(edge, path, { startText, signals, own });
}

interface Serving {
  /** The config file's text as read before the edge was built. */
  readonly startText: string;
  readonly signals: StartupSignals;
  readonly own: (config: Config) => Config;
}

/** Signals and config reloads for a running edge; resolves with the exit code once drained. */
function serve(edge: Edge, path: string, { startText, signals, own }: Serving): Promise<number> {
  return new Promise((resolve) => {
    let lastText = startText;
    let queue = Promise.resolve();
    const reload = (why: 'SIGHUP' | 'file' | 'startup'): void => {
      queue = queue.then(async () => {
        const text = readText(path);
        // A file event with unchanged content (an editor's touch, a certificate in the same folder) is no reload.
        if (why === 'file' && text === lastText) return;
        if (why === 'startup' && text === lastText) {
          edge.log.info({ event: 'reload', trigger: 'SIGHUP', held: true }, 'SIGHUP during startup: the config is unchanged since it was read; nothing to reload');
          return;
        }
        lastText = text;
        const { config, problems } = await loadConfig(path);
        if (config === undefined) {
          edge.log.error({ event: 'reload', trigger: why, problems: problems.map(formatProblem) }, 'config reload refused: the file has errors; old config keeps serving');
          return;
        }
        await edge.reload(own(config));
      }).catch((err: unknown) => edge.log.error({ err }, 'config reload failed'));
    };
    // The file itself, not its folder: a log written next to the config must cost nothing.
    const watcher = watchSettled([resolvePath(path)], 250, () => reload('file'));
    let stopping = false;
    const stop = (signal: StopSignal): void => {
      if (stopping) return;
      stopping = true;
      edge.log.info({ event: 'signal', signal }, 'shutting down');
      void watcher.close().then(() => edge.close()).then(() => resolve(0));
    };
    // Last line of defence: a stray socket error must not take every other connection down.
    process.on('uncaughtException', (err: NodeJS.ErrnoException) => {
      const socketError = typeof err.code === 'string' && /^(E(CONNRESET|PIPE|CONNABORTED|TIMEDOUT|HOSTUNREACH|NETUNREACH)|ERR_STREAM_(DESTROYED|WRITE_AFTER_END|PREMATURE_CLOSE)|ERR_SSL_)/.test(err.code);
      edge.log[socketError ? 'error' : 'fatal']({ err }, socketError ? 'unhandled socket error (kept running)' : 'uncaught exception');
      if (!socketError) {
        edge.log.flush();
        process.exit(1);
      }
    });
    // What arrived during startup: a stop drains now; SIGHUPs are one reload if the file changed.
    // Without one, a file changed while starting (no watcher yet) is still picked up.
    const held = signals.handOver({ reload: () => reload('SIGHUP'), stop });
    if (held.stop !== undefined) stop(held.stop);
    else reload(held.reloads > 0 ? 'startup' : 'file');
  });
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

async function main(): Promise<number> {
  const args = parseArgs(process.argv.slice(2), process.env);
  if (args.error !== undefined) {
    console.error(`gatehouse: ${args.error}\n\n${USAGE}`);
    return 2;
  }
  if (args.command === 'help') {
    console.log(USAGE);
    return 0;
  }
  if (args.command === 'version') {
    console.log(version());
    return 0;
  }
  if (args.command === 'schema') {
    console.log(JSON.stringify(configJsonSchema(readmeDescriptions(readText(fileURLToPath(new URL('../README.md', import.meta.url))))), null, 2));
    return 0;
  }
  if (args.command === 'route' || args.command === 'live' || args.command === 'import') {
    try {
      const rest = [...(args.rest ?? [])];
      const imported = args.command === 'import' ? parseUtilArgs({ args: rest, options: IMPORT_OPTIONS, strict: true, allowPositionals: true }) : undefined;
      const result = imported !== undefined
        ? await importNginxCommand(imported.values, imported.positionals, compareCommand)
        : args.command === 'route'
        ? await routeCommand(parseUtilArgs({ args: rest, options: ROUTE_OPTIONS, strict: true }).values, args.config)
        : await liveCommand(parseUtilArgs({ args: rest, options: LIVE_OPTIONS, strict: true }).values);
      if (result.stdout !== '') console.log(result.stdout);
      if (result.stderr !== '') console.error(result.stderr);
      return result.code;
    } catch (err) {
      if (!(err instanceof UsageError) && (err as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS') !== true) throw err;
      console.error(`gatehouse: ${(err as Error).message}\n\n${USAGE}`);
      return 2;
    }
  }
  if (args.config === undefined) {
    console.error(`gatehouse: no config file: pass --config FILE or set GATEHOUSE_CONFIG (start from config.example.yaml)\n\n${USAGE}`);
    return 2;
  }
  return args.command === 'check' ? check(args.config) : run(args.config, startupSignals);
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error('gatehouse: unexpected failure:', err);
    process.exit(1);
  },
);
