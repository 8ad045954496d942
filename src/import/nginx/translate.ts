import type { Directive } from './parse.js';
import { ImportReport } from './report.js';
import { childScope, nearestOne, type Scope } from './scope.js';
import { makeCtx, meaningless, ms, walk, type ContentTranslators, type Ctx } from './context.js';
import { Upstreams } from './upstream.js';
import { buildSite, readServer, redirectsToHttps, type ServerInfo } from './server.js';
import { duration, nginxSize } from './values.js';
import { translateContent, translateHttpLevel } from './content.js';

export interface Translation {
  /** Gatehouse's config shape as plain data, keys in README order. */
  readonly config: Record<string, unknown>;
  readonly report: ImportReport;
  /** Certificate paths as written, for the header's note on ACME. */
  readonly certificates: readonly { cert: string; key: string }[];
}

const CONTENT: ContentTranslators = { route: translateContent, http: translateHttpLevel };

/** nginx directives (from readNginx) → Gatehouse config and the report of what was not carried over exactly. */
export function translateNginx(ds: readonly Directive[], content: ContentTranslators = CONTENT): Translation {
  const report = new ImportReport();
  const consumed = new Set<Directive>();
  const main: Scope = { kind: 'main', directives: [...ds] };
  const httpD = ds.find((d) => d.name === 'http');
  // A sites-enabled fragment has no http {}: its top level is the http context.
  const http: Scope = httpD !== undefined ? childScope(main, httpD) : { kind: 'http', directives: [...ds], parent: main };
  if (httpD !== undefined) consumed.add(httpD);
  const upstreams = new Upstreams(http.directives.filter((d) => d.name === 'upstream'), report, consumed);
  const ctx = makeCtx(report, upstreams, consumed, content);
  const top: Record<string, unknown> = {};
  const httpContent = content.http(http, report);
  for (const c of httpContent.consumed) consumed.add(c);
  for (const d of http.directives) if (d.name === 'map') mapIdiom(d, ctx);

  const servers = http.directives.filter((d) => d.name === 'server').map((d) => readServer(childScope(http, d), ctx));
  const { sites, listen, certificates, webroot } = sitesOf(servers, ctx);
  top.listen = listen;
  // Without any ssl_certificate, Gatehouse obtains certificates for the site hosts itself (ACME http-01 on :80).
  top.tls = certificates.length > 0 ? { certificates } : { certificates: [], acme: {} };
  const hsts = ctx.hstsValue();
  if (hsts !== undefined) top.hsts = hsts;
  if (webroot !== undefined) top.redirect = { acmeWebroot: webroot };
  Object.assign(top, httpLevel(http, ctx, servers, listen));
  Object.assign(top, httpContent.top);
  top.upstreams = Object.fromEntries(upstreams.out);
  top.sites = sites;
  upstreams.finish();
  for (const d of walk(ds)) {
    if (consumed.has(d) || report.mentions(d) || meaningless(d, ctx)) continue;
    // A server-level root or index no route serves files from changes nothing.
    if (d.name === 'root' || d.name === 'index') { ctx.meaningless(d, 'no route serves files from here'); continue; }
    if (d.block !== undefined && ['http', 'server', 'location'].includes(d.name)) continue;
    ctx.unsupported(d, 'no Gatehouse equivalent (not translated)');
  }
  return { config: top, report, certificates };
}

function sitesOf(servers: readonly ServerInfo[], ctx: Ctx): { sites: unknown[]; listen: Record<string, unknown>; certificates: { cert: string; key: string }[]; webroot: string | undefined } {
  const httpsAddrs: (string | number)[] = [];
  const httpAddrs: (string | number)[] = [];
  for (const s of servers) for (const l of s.listens) {
    const list = l.ssl ? httpsAddrs : httpAddrs;
    if (!list.includes(l.address)) list.push(l.address);
  }
  const certificates: { cert: string; key: string }[] = [];
  const sites: unknown[] = [];
  const owner = new Map<string, ServerInfo>();
  for (const s of servers) if (s.https && !s.catchAll) for (const h of s.hosts) if (!owner.has(h)) owner.set(h, s);
  let webroot: string | undefined;
  const twins = new Map<ServerInfo, ServerInfo>();
  const extraSites: unknown[] = [];
  for (const s of servers) {
    if (s.https || s.catchAll) continue;
    const r = redirectsToHttps(s, ctx);
    if (r !== undefined) {
      webroot ??= r.webroot;
      const elsewhere = s.hosts.filter((h) => !owner.has(h) && r.to !== undefined && r.to !== h);
      if (elsewhere.length > 0) {
        extraSites.push({ hosts: elsewhere, redirect: { to: `https://${r.to}{uri}`, status: 301 } });
        ctx.report.difference(s.scope.directive as Directive, `http://${elsewhere[0]} reaches https://${r.to} in two redirects (via https://${elsewhere[0]}, whose certificate must cover it)`);
      }
      continue;
    }
    const twin = s.hosts.map((h) => owner.get(h)).find((t) => t !== undefined);
    if (twin !== undefined && !twins.has(twin)) twins.set(twin, s);
    else if (twin === undefined) owner.set(s.hosts[0] ?? '', s);
    else ctx.unsupported(s.scope.directive as Directive, 'a second plain-HTTP server for the same names');
  }
  const listedOnce = new Set<string>();
  for (const s of servers) {
    if (s.catchAll) { catchAll(s, ctx); continue; }
    if (!s.https && twinOf(twins, s)) continue;
    if (!s.https && !s.hosts.some((h) => owner.get(h) === s)) continue;
    const hosts = s.hosts.filter((h) => !listedOnce.has(h));
    for (const h of hosts) listedOnce.add(h);
    if (hosts.length < s.hosts.length) ctx.report.difference(s.scope.directive as Directive, 'a server name already served by an earlier server (nginx ignores it too, with a warning)');
    if (hosts.length === 0) continue;
    if (s.https) certificatesOf(s.scope, ctx, certificates);
    else ctx.report.difference(s.scope.directive as Directive, 'also served over HTTPS: every Gatehouse site is (plainHttp: serve keeps plain HTTP too)');
    const site = buildSite({ ...s, hosts }, ctx, twins.get(s));
    if (site !== undefined) sites.push(site);
  }
  sites.push(...extraSites);
  const listen: Record<string, unknown> = { http: httpAddrs[0] ?? false };
  if (httpAddrs.length > 1) ctx.report.difference(servers.flatMap((s) => s.listens).find((l) => !l.ssl && l.address === httpAddrs[1])?.d as Directive, `one plain-HTTP listener (${String(httpAddrs[0])}); Gatehouse does not listen here`);
  const https = httpsAddrs.length === 0 ? [443] : httpsAddrs;
  if (!(https.length === 1 && https[0] === 443)) listen.https = https.length === 1 ? https[0] : https;
  const portsBy = new Set(servers.filter((s) => s.https).map((s) => s.listens.filter((l) => l.ssl).map((l) => l.port).sort().join(',')));
  if (portsBy.size > 1) ctx.report.difference(servers.find((s) => s.https)?.listens[0]?.d as Directive, `every site is served on every https port (${https.join(', ')})`);
  return { sites, listen, certificates, webroot };
}

function twinOf(twins: Map<ServerInfo, ServerInfo>, s: ServerInfo): boolean {
  return [...twins.values()].includes(s);
}

/** A catch-all (`server_name _`, default_server without names): Gatehouse answers unknown hosts 421 itself. */
function catchAll(s: ServerInfo, ctx: Ctx): void {
  for (const d of walk(s.scope.directives)) ctx.consumed.add(d);
  const d = s.scope.directive as Directive;
  ctx.report.difference(d, 'a catch-all server: Gatehouse answers a Host no site serves with 421');
}

function certificatesOf(server: Scope, ctx: Ctx, out: { cert: string; key: string }[]): void {
  const cert = nearestOne(server, 'ssl_certificate');
  const key = nearestOne(server, 'ssl_certificate_key');
  for (const name of ['ssl_certificate', 'ssl_certificate_key']) for (let s: Scope | undefined = server; s; s = s.parent) for (const d of s.directives) if (d.name === name) ctx.consumed.add(d);
  if (cert === undefined || key === undefined) return;
  if (cert.args[0]?.includes('$') === true) { ctx.unsupported(cert, 'a certificate chosen per request by variable: list each pair'); return; }
  const pair = { cert: cert.args[0] ?? '', key: key.args[0] ?? '' };
  if (!out.some((p) => p.cert === pair.cert)) out.push(pair);
  const protocols = nearestOne(server, 'ssl_protocols');
  if (protocols !== undefined) {
    ctx.consumed.add(protocols);
    if (protocols.args.some((p) => p !== 'TLSv1.3')) ctx.report.difference(protocols, 'TLS 1.3 only: older clients are refused (tls.minVersion: TLSv1.2 keeps TLS 1.2)');
  }
}

/** `map $http_upgrade $connection_upgrade { default upgrade; '' close; }`: Gatehouse passes upgrades itself. */
function mapIdiom(d: Directive, ctx: Ctx): void {
  if (d.args[0] === '$http_upgrade') { for (const x of walk([d])) ctx.consumed.add(x); return; }
  ctx.unsupported(d, 'map: Gatehouse has no per-request variables');
  for (const x of walk(d.block ?? [])) ctx.consumed.add(x);
}

/** http-level limits and timeouts → the global `limits`/`timeouts`/`trustedProxies` (nginx's defaults where Gatehouse's differ). */
function httpLevel(http: Scope, ctx: Ctx, servers: readonly ServerInfo[], listen: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const own = (name: string): Directive | undefined => {
    const found = http.directives.filter((d) => d.name === name);
    for (const d of found) ctx.consumed.add(d);
    return found.at(-1);
  };
  const body = own('client_max_body_size');
  // nginx refuses bodies over 1m unless told otherwise; Gatehouse's default is unlimited.
  out.limits = { bodySize: nginxSize(body?.args[0] ?? '1m') ?? '1m' };
  const timeouts: Record<string, string> = {};
  const read = Math.max(ms(own('proxy_read_timeout')) ?? 0, ms(own('proxy_send_timeout')) ?? 0);
  if (read > 0) timeouts.response = duration(read);
  const connect = ms(own('proxy_connect_timeout'));
  if (connect !== undefined) timeouts.connect = duration(connect);
  const idle = ms(own('keepalive_timeout'));
  if (idle !== undefined && idle > 0) timeouts.idle = duration(idle);
  const headers = ms(own('client_header_timeout'));
  if (headers !== undefined) timeouts.headers = duration(headers);
  for (const name of ['client_body_timeout', 'send_timeout']) {
    const d = own(name);
    if (d !== undefined) ctx.report.difference(d, 'Gatehouse bounds client pauses with timeouts.idle');
  }
  if (Object.keys(timeouts).length > 0) out.timeouts = timeouts;
  for (const s of servers) for (const name of ['keepalive_timeout', 'client_header_timeout', 'client_body_timeout', 'send_timeout']) {
    for (const d of s.scope.directives.filter((x) => x.name === name)) { ctx.consumed.add(d); ctx.report.difference(d, 'one value for the whole edge: the http level\'s'); }
  }
  const trusted = http.directives.filter((d) => d.name === 'set_real_ip_from');
  if (trusted.length > 0) {
    for (const d of trusted) ctx.consumed.add(d);
    const header = own('real_ip_header');
    const recursive = own('real_ip_recursive');
    const cidrs = trusted.map((d) => d.args[0] ?? '').filter((c) => c !== 'unix:');
    if (header?.args[0] === 'proxy_protocol') listen.proxyProtocol = cidrs;
    else {
      out.trustedProxies = cidrs;
      if (header !== undefined && header.args[0]?.toLowerCase() !== 'x-forwarded-for') ctx.report.difference(header, 'Gatehouse takes the client address from X-Forwarded-For of trusted peers');
      if (recursive?.args[0] !== 'on') ctx.report.difference(recursive ?? trusted[0] as Directive, 'the right-most untrusted X-Forwarded-For address is the client (nginx: real_ip_recursive on)');
    }
  }
  return out;
}
