import { existsSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { printNginx, type Directive } from '../parse.js';
import { normaliseAddress, parsePass, passTo, upstreamNames, walk } from './targets.js';

/** An nginx listen taken apart: the port it names and whether it is TLS. */
export interface ListenSpec {
  readonly port: number;
  readonly ssl: boolean;
}

/** What the copy of the config is pointed at: where things live and what stands in for what. */
export interface NginxRewrite {
  /** The temp prefix: pid, temp paths and caches go under it. */
  readonly prefix: string;
  /** Where relative file paths of the original resolve (its conf directory). */
  readonly confDir: string;
  /** Original listen port → the loopback port this nginx uses for it. */
  readonly ports: ReadonlyMap<number, number>;
  readonly standIn: (address: string) => string | undefined;
  readonly cert: string;
  readonly key: string;
}

/** Directives of the main context: everything else of a `sites-enabled` fragment belongs inside `http {}`. */
const MAIN_ONLY = new Set(['user', 'worker_processes', 'worker_rlimit_nofile', 'worker_cpu_affinity', 'worker_priority', 'worker_shutdown_timeout',
  'pid', 'error_log', 'events', 'http', 'stream', 'mail', 'load_module', 'env', 'daemon', 'master_process', 'pcre_jit', 'thread_pool',
  'timer_resolution', 'working_directory', 'lock_file', 'ssl_engine', 'google_perftools_profiles']);
/**
 * Dropped wherever they stand: the run sets its own, or they name files that only the real host
 * has. `http2 on` (nginx 1.25.1+) is unknown to older nginx, and the comparison's requests are
 * HTTP/1.1 on both sides, so it changes nothing compared.
 */
const DROPPED = new Set(['user', 'pid', 'daemon', 'master_process', 'worker_processes', 'error_log', 'lock_file', 'working_directory',
  'ssl_certificate', 'ssl_certificate_key', 'ssl_trusted_certificate', 'ssl_stapling', 'ssl_stapling_verify', 'ssl_stapling_file',
  'ssl_dhparam', 'ssl_client_certificate', 'ssl_verify_client', 'ssl_verify_depth', 'ssl_crl', 'ssl_password_file', 'ssl_session_ticket_key',
  'ssl_ocsp', 'ssl_ocsp_responder', 'ssl_ocsp_cache', 'client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path',
  'scgi_temp_path', 'stream', 'http2']);
const TEMP_PATHS = ['client_body_temp_path', 'proxy_temp_path', 'fastcgi_temp_path', 'uwsgi_temp_path', 'scgi_temp_path'];
/** Directives whose first argument is a file nginx resolves against its conf directory. */
const CONF_RELATIVE = new Set(['auth_basic_user_file']);
/** Listen parameters carried into the copy; the rest (`reuseport`, `ipv6only`, `backlog`, `proxy_protocol`, …) concern the real host. */
const LISTEN_KEPT = new Set(['ssl', 'http2', 'default_server', 'default']);

/** The port and TLS flag of a `listen` directive, or undefined for a Unix socket or a QUIC listen. */
export function parseListen(args: readonly string[]): ListenSpec | undefined {
  const addr = args[0];
  if (addr === undefined || addr.startsWith('unix:') || args.includes('quic')) return undefined;
  const m = /(?:^|:)(\d+)$/.exec(addr);
  const port = m === null ? 80 : Number(m[1]);
  return { port, ssl: args.includes('ssl') };
}

/** Every listen of the config; a server without one listens on :80, as nginx's default. */
export function listensOf(ds: readonly Directive[]): ListenSpec[] {
  const out: ListenSpec[] = [];
  walk(ds, (d, parents) => {
    if (d.name !== 'server' || d.block === undefined || parents.some((p) => p.name === 'stream' || p.name === 'mail')) return;
    const listens = d.block.filter((x) => x.name === 'listen').map((x) => parseListen(x.args)).filter((x) => x !== undefined);
    out.push(...(listens.length > 0 ? listens : [{ port: 80, ssl: false }]));
  });
  return out;
}

/** The config as nginx text again, pointed at loopback ports, stand-ins, the test certificate and the temp prefix. */
export function rewriteNginx(original: readonly Directive[], to: NginxRewrite): string {
  const upstreams = upstreamNames(original);
  const at = (name: string, args: string[], block?: Directive[]): Directive => ({ name, args, file: '(compare)', line: 0, col: 0, ...(block === undefined ? {} : { block }) });
  const rewriteList = (ds: readonly Directive[], parent: Directive | undefined): Directive[] => {
    const out: Directive[] = [];
    const seenListens = new Set<string>();
    for (const d of ds) {
      if (DROPPED.has(d.name)) continue;
      if (d.name === 'access_log') { out.push(at('access_log', ['off'])); continue; }
      if (d.name === 'include') {
        // Left unexpanded by the reader only when the file is missing (the stock mime.types).
        if (existsSync('/etc/nginx/mime.types') && d.args[0]?.endsWith('mime.types') === true) out.push(at('include', ['/etc/nginx/mime.types']));
        continue;
      }
      if (d.name === 'listen' && parent?.name === 'server') {
        const spec = parseListen(d.args);
        const port = spec === undefined ? undefined : to.ports.get(spec.port);
        if (port === undefined) continue;
        const args = [`127.0.0.1:${port}`, ...d.args.slice(1).filter((a) => LISTEN_KEPT.has(a))];
        if (!seenListens.has(args[0] as string)) out.push(at('listen', args));
        seenListens.add(args[0] as string);
        continue;
      }
      if (d.name === 'server' && parent?.name === 'upstream' && d.args[0] !== undefined) {
        const standIn = to.standIn(normaliseAddress(d.args[0]));
        out.push(at('server', [standIn ?? d.args[0], ...d.args.slice(1).filter((a) => a !== 'resolve' && !a.startsWith('service='))]));
        continue;
      }
      if (d.name === 'proxy_pass' && d.args[0] !== undefined) {
        const pass = parsePass(d.args[0], upstreams);
        const standIn = pass === undefined || pass.upstream ? undefined : to.standIn(pass.address);
        out.push(standIn === undefined || pass === undefined ? d : at('proxy_pass', [passTo(pass, standIn)]));
        continue;
      }
      if (d.name === 'proxy_cache_path' && d.args[0] !== undefined) {
        out.push(at(d.name, [join(to.prefix, `cache${out.length}`), ...d.args.slice(1)]));
        continue;
      }
      if (CONF_RELATIVE.has(d.name) && d.args[0] !== undefined && !isAbsolute(d.args[0]) && d.args[0] !== 'off') {
        out.push(at(d.name, [resolve(to.confDir, d.args[0]), ...d.args.slice(1)]));
        continue;
      }
      out.push(d.block === undefined ? d : { ...d, block: rewriteList(d.block, d) });
    }
    if (parent?.name === 'server' && parent.block !== undefined) {
      if (!ds.some((d) => d.name === 'listen')) out.unshift(at('listen', [`127.0.0.1:${to.ports.get(80) ?? 80}`]));
      if (out.some((d) => d.name === 'listen' && d.args.includes('ssl'))) out.push(at('ssl_certificate', [to.cert]), at('ssl_certificate_key', [to.key]));
    }
    if (parent?.name === 'http') {
      out.unshift(...TEMP_PATHS.map((name) => at(name, [join(to.prefix, 'tmp', name)])), at('access_log', ['off']));
    }
    return out;
  };
  const main = original.filter((d) => MAIN_ONLY.has(d.name));
  const rest = original.filter((d) => !MAIN_ONLY.has(d.name));
  const http = main.find((d) => d.name === 'http');
  // A `sites-enabled` fragment: what it holds goes inside an http block, as nginx.conf would include it.
  const wrapped = http === undefined ? [...main, at('http', [], rest)] : [...main, ...rest];
  const top = rewriteList(wrapped, undefined);
  return printNginx([
    at('pid', [join(to.prefix, 'nginx.pid')]),
    at('error_log', ['stderr', 'warn']),
    at('worker_processes', ['1']),
    ...(top.some((d) => d.name === 'events') ? [] : [at('events', [], [])]),
    ...top,
  ]);
}
