import type { Directive } from './parse.js';
import type { Ctx } from './context.js';

/** One `listen` of a server: where, and whether TLS. */
export interface Listen {
  /** Gatehouse's spelling: a bare port for every interface, else `host:port` / `[v6]:port`. */
  readonly address: string | number;
  readonly port: number;
  readonly ssl: boolean;
  readonly defaultServer: boolean;
  readonly proxyProtocol: boolean;
  readonly d: Directive;
}

/** A `listen` directive, or undefined (reported) when Gatehouse cannot listen like that. */
export function readListen(d: Directive, sslOn: boolean, ctx: Ctx): Listen | undefined {
  ctx.consumed.add(d);
  const [where = '', ...flags] = d.args;
  if (where.startsWith('unix:')) { ctx.unsupported(d, 'Gatehouse listens on TCP ports only'); return undefined; }
  const m = /^(?:(\[[^\]]+\]|[^:[\]]+):)?(\d+)$/.exec(where) ?? /^(\[[^\]]+\]|[A-Za-z0-9.-]+)()$/.exec(where);
  if (m === null) { ctx.unsupported(d, 'an address Gatehouse cannot read'); return undefined; }
  const host = m[1];
  const port = m[2] === '' || m[2] === undefined ? 80 : Number(m[2]);
  const wildcard = host === undefined || host === '*' || host === '0.0.0.0' || host === '[::]';
  for (const f of flags) {
    if (f === 'quic') { ctx.unsupported(d, 'HTTP/3 (QUIC) is not offered; clients use HTTP/2 or HTTP/1.1 over TLS'); return undefined; }
  }
  return {
    address: wildcard ? port : `${host}:${port}`,
    port,
    ssl: flags.includes('ssl') || sslOn,
    defaultServer: flags.includes('default_server') || flags.includes('default'),
    proxyProtocol: flags.includes('proxy_protocol'),
    d,
  };
}

/** server_name values → Gatehouse hosts; undefined entries were reported. `_`/`""` make a catch-all. */
export function readNames(ds: readonly Directive[], ctx: Ctx): { hosts: string[]; catchAll: boolean } {
  const hosts: string[] = [];
  let catchAll = ds.length === 0;
  for (const d of ds) {
    ctx.consumed.add(d);
    for (const raw of d.args) {
      const name = raw.toLowerCase();
      if (name === '_' || name === '' || name === 'default_server') { catchAll = true; continue; }
      if (name.startsWith('~')) { ctx.report.unsupported(d, `regex server name ${raw}: list the hosts, or use *.example.com`); continue; }
      if (name.includes('$')) { ctx.report.unsupported(d, `server name ${raw} is a variable`); continue; }
      if (name.endsWith('.*')) { ctx.report.unsupported(d, `${raw}: Gatehouse matches wildcards at the front only (*.example.com)`); continue; }
      if (name.startsWith('.')) { hosts.push(name.slice(1), `*${name}`); continue; }
      hosts.push(name);
    }
  }
  return { hosts: [...new Set(hosts)], catchAll: catchAll && hosts.length === 0 };
}
