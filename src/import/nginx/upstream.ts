import type { Directive } from './parse.js';
import type { ImportReport } from './report.js';
import { nginxDuration } from './values.js';

/** One entry of Gatehouse's `upstreams:` as plain data (README "upstreams.NAME.*"). */
export interface UpstreamOut {
  targets: string[];
  /** nginx's `server … backup`: used only when no target can take a request. */
  backup?: string[];
  hash?: { ipv4Prefix: number; ipv6Prefix: number };
  maxFails?: number;
  failTimeout?: string;
  keepalive?: number;
  keepaliveTimeout?: string;
}

/** What a `proxy_pass` URL names: an upstream of the import, and the URI part nginx puts in place of the location's prefix. */
export interface PassTarget {
  readonly upstream: string;
  /** undefined: no URI part (the request's own URI goes upstream unchanged). */
  readonly uri: string | undefined;
  readonly https: boolean;
}

const PASS = /^(https?):\/\/(unix:[^:]+:?|\[[^\]]+\](?::\d+)?|[^/:]+(?::\d+)?)(\/.*)?$/;

/**
 * The upstreams of an import: nginx's `upstream` blocks under their own names, and one per
 * address that `proxy_pass` names directly (named after the site that uses it first).
 */
export class Upstreams {
  readonly out = new Map<string, UpstreamOut>();
  readonly #blocks = new Map<string, Directive>();
  readonly #direct = new Map<string, string>();
  readonly #translated = new Map<string, string>();
  readonly #report: ImportReport;
  readonly #consumed: Set<Directive>;

  constructor(blocks: readonly Directive[], report: ImportReport, consumed: Set<Directive>) {
    this.#report = report;
    this.#consumed = consumed;
    for (const b of blocks) if (b.args[0] !== undefined) this.#blocks.set(b.args[0], b);
  }

  /** Blocks no proxy_pass names do nothing in nginx either: nothing to report. */
  finish(): void {
    for (const b of this.#blocks.values()) if (!this.#consumed.has(b)) for (const d of [b, ...(b.block ?? [])]) this.#consumed.add(d);
  }

  /** The upstream a `proxy_pass` URL goes to (`hint` names a new one), or why it cannot be translated. */
  resolve(url: string, hint: string): PassTarget | string {
    if (url.includes('$')) return 'a proxy_pass with variables is chosen per request; Gatehouse targets are fixed at load';
    const m = PASS.exec(url);
    if (m === null) return 'not an http:// or https:// URL';
    const https = m[1] === 'https';
    const host = m[2] ?? '';
    const uri = m[3];
    const block = this.#blocks.get(host);
    if (block !== undefined) return { upstream: this.#fromBlock(block, https), uri, https };
    const target = targetOf(host, https);
    let name = this.#direct.get(target);
    if (name === undefined) {
      const port = /:(\d+)$/.exec(target)?.[1] ?? /([A-Za-z0-9_-]+?)(?:\.sock)?$/.exec(target)?.[1];
      name = this.#fresh(this.out.has(hint) && port !== undefined ? `${hint}_${port}` : hint);
      this.#direct.set(target, name);
      this.out.set(name, { targets: [target] });
    }
    return { upstream: name, uri: uri === '' ? undefined : uri, https };
  }

  #fresh(hint: string): string {
    const base = hint.replace(/[^A-Za-z0-9_-]+/g, '_').replace(/^_+|_+$/g, '') || 'app';
    let name = base;
    for (let i = 2; this.out.has(name) || this.#blocks.has(name); i++) name = `${base}_${i}`;
    return name;
  }

  #fromBlock(block: Directive, https: boolean): string {
    const key = `${block.args[0] ?? ''}${https ? ' https' : ''}`;
    const known = this.#translated.get(key);
    if (known !== undefined) return known;
    const name = https && this.#translated.has(block.args[0] ?? '') ? this.#fresh(`${block.args[0] ?? 'app'}_https`) : (block.args[0] ?? 'app');
    this.#translated.set(key, name);
    this.#consumed.add(block);
    this.out.set(name, this.#block(block, https));
    return name;
  }

  /** An `upstream { … }` block: servers, the balancing method, passive health, keep-alive. */
  #block(block: Directive, https: boolean): UpstreamOut {
    const out: UpstreamOut = { targets: [] };
    const fails = new Set<string>();
    const timeouts = new Set<string>();
    let balanced: Directive | undefined;
    for (const d of block.block ?? []) {
      this.#consumed.add(d);
      if (d.name === 'server') {
        const [address, ...params] = d.args;
        if (address === undefined) continue;
        const opts = new Map(params.map((p) => [p.split('=')[0] ?? p, p.includes('=') ? p.slice(p.indexOf('=') + 1) : '']));
        if (opts.has('down')) continue;
        if (opts.has('weight') && opts.get('weight') !== '1') this.#report.difference(d, 'no weights: each target takes an equal share of client addresses');
        if (opts.has('max_conns')) this.#report.difference(d, 'max_conns is not enforced per target');
        const backup = opts.has('backup');
        // A backup's own max_fails/fail_timeout count only when written: the primaries' say what the upstream's are.
        if (!backup || opts.has('max_fails')) fails.add(opts.get('max_fails') ?? '1');
        if (!backup || opts.has('fail_timeout')) timeouts.add(opts.get('fail_timeout') ?? '10s');
        if (backup) (out.backup ??= []).push(targetOf(address, https));
        else out.targets.push(targetOf(address, https));
      } else if (d.name === 'ip_hash') {
        // ngx_http_upstream_ip_hash: the first three octets of IPv4, the whole IPv6 address.
        out.hash = { ipv4Prefix: 24, ipv6Prefix: 128 };
        balanced = d;
      } else if (d.name === 'hash') {
        balanced = d;
        if (d.args[0] !== '$remote_addr' && d.args[0] !== '$binary_remote_addr') this.#report.unsupported(d, `Gatehouse hashes the client address only, not ${d.args[0] ?? ''}`);
        else {
          out.hash = { ipv4Prefix: 32, ipv6Prefix: 128 };
          if (d.args[1] !== 'consistent') this.#report.difference(d, 'rendezvous hashing: removing a target moves only its clients (nginx without consistent remaps most)');
        }
      } else if (d.name === 'least_conn' || d.name === 'random') {
        balanced = d;
        this.#report.difference(d, 'clients stick to a target by address (rendezvous hash), not by load');
      } else if (d.name === 'keepalive') out.keepalive = Number(d.args[0]);
      else if (d.name === 'keepalive_timeout') {
        const t = nginxDuration(d.args[0] ?? '');
        if (t !== undefined) out.keepaliveTimeout = t;
      } else if (d.name === 'zone' || d.name === 'keepalive_requests' || d.name === 'keepalive_time' || d.name === 'resolver' || d.name === 'resolver_timeout') {
        this.#report.meaningless(d);
      } else {
        this.#consumed.delete(d);
      }
    }
    if (balanced === undefined && out.targets.length > 1) {
      this.#report.difference(block, 'round-robin becomes sticky: each client address keeps one target (rendezvous hash)');
    }
    if (out.targets.length + (out.backup?.length ?? 0) > 1) {
      if (fails.size > 1 || timeouts.size > 1) this.#report.difference(block, 'max_fails/fail_timeout differ per server; Gatehouse has one value per upstream (the first server\'s)');
      const maxFails = Number([...fails][0] ?? '1');
      if (maxFails !== 3) out.maxFails = maxFails;
      const failTimeout = nginxDuration([...timeouts][0] ?? '10s');
      if (failTimeout !== undefined && failTimeout !== '10s') out.failTimeout = failTimeout;
    }
    if (out.targets.length === 0) this.#report.unsupported(block, 'no usable server in this upstream');
    return out;
  }
}

/** nginx's server address as a Gatehouse target: `unix:PATH`, `host:port` (port 80 when absent), `https://…` for TLS. */
function targetOf(address: string, https: boolean): string {
  if (address.startsWith('unix:')) return address.replace(/:$/, '');
  const hasPort = /:\d+$/.test(address) && !/^\[[^\]]*\]$/.test(address);
  const withPort = hasPort ? address : `${address}:${https ? 443 : 80}`;
  return https ? `https://${withPort}` : withPort;
}
