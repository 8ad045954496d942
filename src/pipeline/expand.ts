import type { IncomingHttpHeaders } from 'node:http';
import type { Template } from '../config/template.js';

/** What placeholders read from one request (README "Placeholders"); built only for routes that use any. */
export interface RequestContext {
  readonly scheme: 'http' | 'https';
  /** Host without port, lower-case. */
  readonly host: string;
  /** The port the client reached. */
  readonly port: number;
  /** The request-target as received. */
  readonly uri: string;
  /** The routing path: dot segments removed, unreserved characters decoded, the rest still encoded. */
  readonly path: string;
  /** Where `{rest}` starts in `path` (the matched prefix's length); path.length when not a prefix route. */
  readonly restStart: number;
  readonly remoteAddr: string;
  readonly requestId: string;
  readonly headers: IncomingHttpHeaders;
  readonly match: RegExpExecArray | null;
}

const UNSENDABLE = /[\r\n\0]/;

/** The template's text for this request; for a field (not a body), null when it would carry CR, LF or NUL: it is then not sent. */
export function expand(template: Template, c: RequestContext, field = true): string | null {
  let out = '';
  for (const part of template) {
    if (typeof part === 'string') {
      out += part;
      continue;
    }
    if (part.kind === 'header') {
      const value = c.headers[part.name];
      out += value === undefined ? '' : Array.isArray(value) ? value.join(', ') : value;
    } else if (part.kind === 're') {
      const m = c.match;
      const value = m === null ? undefined : typeof part.group === 'number' ? m[part.group] : m.groups?.[part.group];
      out += value ?? '';
    } else {
      out += variable(part.name, c);
    }
  }
  return field && UNSENDABLE.test(out) ? null : out;
}

function variable(name: string, c: RequestContext): string {
  switch (name) {
    case 'scheme': return c.scheme;
    case 'host': return c.host;
    case 'port': return String(c.port);
    case 'uri': return c.uri;
    case 'path': return c.path;
    case 'query': {
      const q = c.uri.indexOf('?');
      return q === -1 ? '' : c.uri.slice(q + 1);
    }
    case 'rest': return c.path.slice(c.restStart);
    case 'remote_addr': return c.remoteAddr;
    default: return c.requestId;
  }
}

/** "host" or "[v6]", plus ":port" unless it is the scheme's default. */
export function authorityOf(scheme: 'http' | 'https', host: string, port: number): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return port === 0 || port === (scheme === 'https' ? 443 : 80) ? name : `${name}:${port}`;
}
