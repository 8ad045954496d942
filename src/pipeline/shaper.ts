import type { Socket } from 'node:net';
import type { HeaderRules } from '../config/types.js';
import type { AnswerShaper, Exchange } from '../proxy/forward.js';
import { authorityOf, type RequestContext } from './expand.js';
import { AnswerRules, applyResponseRules } from './header-rules.js';

const RELOCATED = new Set(['location', 'content-location', 'refresh']);

/**
 * One upstream route's edits of its answers, built at load: Location, Content-Location and
 * Refresh pointing at the target's own origin are moved to the client-facing one with the
 * stripped prefix put back (nginx's `proxy_redirect default`), then the header rules.
 */
export class RouteShaper implements AnswerShaper {
  constructor(
    readonly rules: HeaderRules | null,
    /** null: rewriteLocation is off; else the prefix stripPrefix removed ("" for none). */
    readonly relocate: string | null,
  ) {}

  shape(exchange: Exchange, status: number, pairs: string[], socket: Pick<Socket, 'localPort'>): void {
    if (this.relocate !== null) {
      for (let i = 0; i < pairs.length; i += 2) {
        const name = pairs[i] as string;
        // By length first: on by default, this loop must not lower-case every name of every answer.
        const n = name.length;
        if ((n === 8 || n === 7 || n === 16) && RELOCATED.has(name.toLowerCase())) pairs[i + 1] = this.#moved(exchange, pairs[i + 1] as string, socket);
      }
    }
    const c = exchange.context as RequestContext | null;
    if (this.rules !== null && c !== null) applyResponseRules(this.rules, status, pairs, c);
  }

  /** The route's response rules for an answer the edge writes in the upstream's place (an error page); null: none. */
  ruled(exchange: Exchange): AnswerRules | null {
    const context = exchange.context as RequestContext | null;
    return this.rules === null || context === null ? null : new AnswerRules(this.rules, context);
  }

  /** `value` with the target's origin replaced; Refresh is "N; url=URL" (HTML's refresh syntax). */
  #moved(exchange: Exchange, value: string, socket: Pick<Socket, 'localPort'>): string {
    const at = value.search(/https?:\/\//i);
    if (at === -1) return value;
    const url = value.slice(at);
    const c = exchange.context as RequestContext | null;
    const scheme = c?.scheme ?? 'https';
    for (const origin of targetOrigins(exchange)) {
      if (url.length < origin.length || url.slice(0, origin.length).toLowerCase() !== origin) continue;
      const next = url[origin.length];
      if (next !== undefined && next !== '/' && next !== '?' && next !== '#') continue;
      const rest = url.slice(origin.length);
      const prefix = this.relocate ?? '';
      const path = prefix === '' ? rest : `${prefix.endsWith('/') ? prefix.slice(0, -1) : prefix}${rest.startsWith('/') ? rest : `/${rest}`}`;
      return `${value.slice(0, at)}${scheme}://${authorityOf(scheme, exchange.host, socket.localPort ?? 0)}${path}`;
    }
    return value;
  }
}

/** The target as written in `targets` (with and without its default port), and `http://` + the Host sent upstream. */
function targetOrigins(exchange: Exchange): string[] {
  const out: string[] = [];
  const target = exchange.sending?.target;
  if (target !== undefined) {
    const id = target.id.toLowerCase();
    out.push(id);
    if (id.endsWith(':80') && id.startsWith('http:')) out.push(id.slice(0, -3));
    if (id.endsWith(':443') && id.startsWith('https:')) out.push(id.slice(0, -4));
  }
  const host = exchange.headers.host;
  if (typeof host === 'string') out.push(`http://${host.toLowerCase()}`);
  return out;
}
