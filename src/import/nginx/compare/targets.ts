import type { Directive } from '../parse.js';
import type { TargetSpec } from './backends.js';

/** A `proxy_pass` URL taken apart: the scheme, who it names, and the URI part after it. */
export interface PassUrl {
  readonly scheme: 'http' | 'https';
  /** `host:port` (port filled in), `unix:/path`, or an upstream block's name. */
  readonly address: string;
  /** True when `address` is the name of an `upstream` block. */
  readonly upstream: boolean;
  /** What followed the address, `''` when nothing (nginx's "without URI part"). */
  readonly uri: string;
}

/** Walk every directive, blocks first-to-last, with the chain of block directives around it. */
export function walk(ds: readonly Directive[], visit: (d: Directive, parents: readonly Directive[]) => void, parents: readonly Directive[] = []): void {
  for (const d of ds) {
    visit(d, parents);
    if (d.block !== undefined) walk(d.block, visit, [...parents, d]);
  }
}

/** `host:port` with the scheme's port filled in, host lower-cased; `unix:/path` as is. */
export function normaliseAddress(written: string, scheme: 'http' | 'https' = 'http'): string {
  const bare = written.replace(/^https?:\/\//i, '');
  if (bare.startsWith('unix:')) return bare;
  const hasPort = bare.startsWith('[') ? /\]:\d+$/.test(bare) : /:\d+$/.test(bare);
  return (hasPort ? bare : `${bare}:${scheme === 'https' ? 443 : 80}`).toLowerCase();
}

/** The names of the config's `upstream` blocks. */
export function upstreamNames(ds: readonly Directive[]): Set<string> {
  const names = new Set<string>();
  walk(ds, (d) => { if (d.name === 'upstream' && d.block !== undefined && d.args[0] !== undefined) names.add(d.args[0]); });
  return names;
}

/** A proxy_pass argument, or undefined when it holds variables (resolved per request, nothing to stand in for). */
export function parsePass(arg: string, upstreams: ReadonlySet<string>): PassUrl | undefined {
  if (arg.includes('$')) return undefined;
  const m = /^(https?):\/\/(.*)$/i.exec(arg);
  if (m === null) return undefined;
  const scheme = (m[1] as string).toLowerCase() as 'http' | 'https';
  const rest = m[2] as string;
  // nginx: `http://unix:/path/sock:/uri` — the socket path ends at the next colon.
  if (rest.startsWith('unix:')) {
    const colon = rest.indexOf(':', 5);
    return { scheme, address: colon === -1 ? rest : rest.slice(0, colon), upstream: false, uri: colon === -1 ? '' : rest.slice(colon + 1) };
  }
  const slash = rest.indexOf('/');
  const host = slash === -1 ? rest : rest.slice(0, slash);
  const uri = slash === -1 ? '' : rest.slice(slash);
  if (upstreams.has(host)) return { scheme, address: host, upstream: true, uri };
  return { scheme, address: normaliseAddress(host, scheme), upstream: false, uri };
}

/** Directives that pass requests on over HTTP and take a URL. */
const PASSES = new Set(['proxy_pass']);

/**
 * Every upstream address of the config: the servers of `upstream` blocks (labelled with the
 * block's name, so nginx's round robin and Gatehouse's hash land on the same label) and the
 * addresses `proxy_pass` names directly (auth_request locations included: they proxy too).
 */
export function collectTargets(ds: readonly Directive[]): TargetSpec[] {
  const upstreams = upstreamNames(ds);
  const out: TargetSpec[] = [];
  walk(ds, (d) => {
    if (d.name === 'upstream' && d.block !== undefined) {
      for (const s of d.block) {
        if (s.name === 'server' && s.args[0] !== undefined) out.push({ address: normaliseAddress(s.args[0]), label: `upstream ${d.args[0] ?? ''}` });
      }
    } else if (PASSES.has(d.name) && d.args[0] !== undefined) {
      const pass = parsePass(d.args[0], upstreams);
      if (pass !== undefined && !pass.upstream) out.push({ address: pass.address, label: pass.address });
    }
  });
  return out;
}

/** `proxy_pass` written again with its address moved to `standIn` (`127.0.0.1:P` or `unix:/p`). */
export function passTo(pass: PassUrl, standIn: string): string {
  // A stand-in speaks plain HTTP: an https upstream is compared as http on both sides.
  if (standIn.startsWith('unix:')) return `http://${standIn}:${pass.uri === '' ? '' : pass.uri}`.replace(/:$/, '');
  return `http://${standIn}${pass.uri}`;
}
