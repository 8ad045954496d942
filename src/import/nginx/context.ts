import type { Directive } from './parse.js';
import type { ImportReport } from './report.js';
import type { Scope } from './scope.js';
import type { Upstreams } from './upstream.js';
import { nginxMs } from './values.js';

/** The per-location and http-level translators of static files, compression, access, auth, rate limits and cache (content.ts). */
export interface ContentTranslators {
  route(scope: Scope, report: ImportReport): { route: Record<string, unknown>; consumed: Set<Directive> };
  http(http: Scope, report: ImportReport): { top: Record<string, unknown>; consumed: Set<Directive> };
}

export interface HstsOut {
  maxAge: string | number;
  includeSubDomains?: boolean;
  preload?: boolean;
}

/** What every part of the translation shares: the report, what has been carried over, the upstreams. */
export interface Ctx {
  readonly report: ImportReport;
  /** Directives translated (or already reported): anything left over is reported unsupported at the end. */
  readonly consumed: Set<Directive>;
  readonly upstreams: Upstreams;
  /** Variables with a value known at load (`$server_name`, literal `set`s), for placeholders. */
  readonly literals: ReadonlyMap<string, string>;
  readonly content: ContentTranslators;
  unsupported(d: Directive, why: string): void;
  meaningless(d: Directive, why?: string): void;
  /** An `add_header Strict-Transport-Security` seen: the first sets the edge's `hsts`. */
  hsts(d: Directive, value: string, always: boolean): void;
  hstsValue(): HstsOut | undefined;
}

export function makeCtx(report: ImportReport, upstreams: Upstreams, consumed: Set<Directive>, content: ContentTranslators): Ctx {
  let hsts: { out: HstsOut; value: string } | undefined;
  return {
    report,
    consumed,
    upstreams,
    literals: new Map(),
    content,
    unsupported(d, why) { consumed.add(d); report.unsupported(d, why); },
    meaningless(d, why) { consumed.add(d); report.meaningless(d, why); },
    hsts(d, value, always) {
      if (hsts === undefined) {
        const out = parseHsts(value);
        if (out === undefined) { consumed.add(d); report.unsupported(d, 'not a max-age=N[; includeSubDomains][; preload] value'); return; }
        hsts = { out, value };
        if (!always) report.difference(d, 'HSTS is sent on every HTTPS answer (nginx without always: 2xx/3xx only)');
      } else if (hsts.value.replace(/\s/g, '').toLowerCase() !== value.replace(/\s/g, '').toLowerCase()) {
        report.difference(d, `one HSTS policy for the whole edge: "${hsts.value}" (the first one found)`);
      }
    },
    hstsValue: () => hsts?.out,
  };
}

function parseHsts(value: string): HstsOut | undefined {
  const parts = value.split(';').map((p) => p.trim().toLowerCase()).filter((p) => p !== '');
  const age = /^max-age="?(\d+)"?$/.exec(parts[0] ?? '');
  if (age === null) return undefined;
  const seconds = Number(age[1]);
  const out: HstsOut = { maxAge: seconds % 31_536_000 === 0 && seconds > 0 ? `${seconds / 31_536_000}y` : seconds };
  if (parts.includes('includesubdomains')) out.includeSubDomains = true;
  if (parts.includes('preload')) out.preload = true;
  return out;
}

/** Directives that mean nothing to Gatehouse: listed once each, exit code unchanged (README "Coming from nginx: `gatehouse import nginx`"). */
const MEANINGLESS: Readonly<Record<string, string>> = {
  user: 'Gatehouse runs as the user that starts it (deploy/gatehouse.service)',
  pid: 'no pid file (systemd tracks the process)',
  daemon: 'Gatehouse runs in the foreground',
  master_process: 'no meaning for Gatehouse',
  worker_processes: 'use workers: auto for one process per core',
  worker_connections: 'no meaning for Gatehouse (limits.connections caps connections)',
  worker_rlimit_nofile: 'set LimitNOFILE in the systemd unit',
  worker_cpu_affinity: 'no meaning for Gatehouse',
  worker_priority: 'no meaning for Gatehouse',
  worker_shutdown_timeout: 'timeouts.drain bounds shutdown',
  multi_accept: 'no meaning for Gatehouse',
  use: 'no meaning for Gatehouse',
  accept_mutex: 'no meaning for Gatehouse',
  events: 'no meaning for Gatehouse',
  load_module: 'no modules',
  pcre_jit: 'regexes run on V8',
  thread_pool: 'no meaning for Gatehouse',
  timer_resolution: 'no meaning for Gatehouse',
  env: 'no meaning for Gatehouse',
  error_log: 'Gatehouse logs JSON lines to stdout (log.level)',
  access_log: 'Gatehouse logs one JSON line per request to stdout',
  log_format: 'Gatehouse logs one JSON line per request to stdout',
  log_not_found: 'no meaning for Gatehouse',
  open_log_file_cache: 'no meaning for Gatehouse',
  types: 'Gatehouse has its own MIME table',
  types_hash_max_size: 'no meaning for Gatehouse',
  types_hash_bucket_size: 'no meaning for Gatehouse',
  server_names_hash_bucket_size: 'no meaning for Gatehouse',
  server_names_hash_max_size: 'no meaning for Gatehouse',
  variables_hash_max_size: 'no meaning for Gatehouse',
  variables_hash_bucket_size: 'no meaning for Gatehouse',
  map_hash_bucket_size: 'no meaning for Gatehouse',
  map_hash_max_size: 'no meaning for Gatehouse',
  proxy_headers_hash_max_size: 'no meaning for Gatehouse',
  proxy_headers_hash_bucket_size: 'no meaning for Gatehouse',
  sendfile: 'no meaning for Gatehouse',
  tcp_nopush: 'no meaning for Gatehouse',
  tcp_nodelay: 'no meaning for Gatehouse',
  aio: 'no meaning for Gatehouse',
  directio: 'no meaning for Gatehouse',
  output_buffers: 'no meaning for Gatehouse',
  reset_timedout_connection: 'no meaning for Gatehouse',
  server_tokens: 'no meaning for Gatehouse',
  client_body_temp_path: 'no temp files: bodies stream',
  proxy_temp_path: 'no temp files: answers stream',
  fastcgi_temp_path: 'no meaning for Gatehouse',
  uwsgi_temp_path: 'no meaning for Gatehouse',
  scgi_temp_path: 'no meaning for Gatehouse',
  client_body_buffer_size: 'bodies stream',
  client_header_buffer_size: 'limits.headerSize bounds the head',
  proxy_buffering: 'answers stream with backpressure',
  proxy_request_buffering: 'bodies stream with backpressure',
  proxy_buffer_size: 'answers stream with backpressure',
  proxy_buffers: 'answers stream with backpressure',
  proxy_busy_buffers_size: 'answers stream with backpressure',
  proxy_max_temp_file_size: 'answers stream with backpressure',
  proxy_http_version: 'upstream requests are HTTP/1.1 with keep-alive',
  chunked_transfer_encoding: 'no meaning for Gatehouse',
  resolver: 'names in targets resolve at connect',
  resolver_timeout: 'no meaning for Gatehouse',
  http2: 'HTTP/2 is on by default (http2.enabled)',
  http2_push_preload: 'no meaning for Gatehouse',
  http2_idle_timeout: 'timeouts.idle closes idle connections, h2 too',
  http2_recv_timeout: 'timeouts.idle closes idle connections, h2 too',
  http2_max_concurrent_streams: 'http2.maxConcurrentStreams (128, as nginx)',
  http2_max_field_size: 'limits.headerSize bounds the decoded header list',
  http2_max_header_size: 'limits.headerSize bounds the decoded header list',
  open_file_cache: 'no meaning for Gatehouse',
  open_file_cache_valid: 'no meaning for Gatehouse',
  open_file_cache_min_uses: 'no meaning for Gatehouse',
  open_file_cache_errors: 'no meaning for Gatehouse',
  keepalive_requests: 'no meaning for Gatehouse',
  lingering_close: 'no meaning for Gatehouse',
  server_name_in_redirect: 'no meaning for Gatehouse',
  port_in_redirect: 'no meaning for Gatehouse',
  ignore_invalid_headers: 'Gatehouse refuses invalid header names',
  underscores_in_headers: 'header names with _ are dropped',
  merge_slashes: 'no meaning for Gatehouse',
  msie_padding: 'no meaning for Gatehouse',
};

/** ssl_* directives that Gatehouse's TLS policy supersedes (TLS 1.3, its own ciphers, session tickets, OCSP). */
const TLS_SUPERSEDED = new Set([
  'ssl_ciphers', 'ssl_prefer_server_ciphers', 'ssl_session_cache', 'ssl_session_timeout', 'ssl_session_tickets',
  'ssl_session_ticket_key', 'ssl_dhparam', 'ssl_ecdh_curve', 'ssl_stapling', 'ssl_stapling_verify', 'ssl_trusted_certificate',
  'ssl_buffer_size', 'ssl_early_data', 'ssl_conf_command', 'ssl', 'ssl_reject_handshake',
]);

/** Mark `d` as meaningless if it is, with the reason; false when it means something. */
export function meaningless(d: Directive, ctx: Ctx): boolean {
  if (d.name === 'include' && /(^|\/)(mime\.types|options-ssl-nginx\.conf)$/.test(d.args[0] ?? '')) {
    ctx.meaningless(d, d.args[0]?.endsWith('mime.types') === true ? 'Gatehouse has its own MIME table' : 'certbot\'s TLS options: superseded by Gatehouse\'s TLS policy');
    return true;
  }
  if (TLS_SUPERSEDED.has(d.name)) { ctx.meaningless(d, 'superseded by Gatehouse\'s TLS policy (TLS 1.3, its own ciphers and session handling)'); return true; }
  const why = MEANINGLESS[d.name];
  if (why === undefined) return false;
  ctx.meaningless(d, why);
  if (d.block !== undefined) for (const child of walk(d.block)) ctx.consumed.add(child);
  return true;
}

/** Every directive below these, depth first. */
export function* walk(ds: readonly Directive[]): Generator<Directive> {
  for (const d of ds) {
    yield d;
    if (d.block !== undefined) yield* walk(d.block);
  }
}

/** An nginx time argument in milliseconds, or undefined (reported by the caller). */
export function ms(d: Directive | undefined): number | undefined {
  return d === undefined ? undefined : nginxMs(d.args[0] ?? '');
}
