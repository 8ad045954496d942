import { join } from 'node:path';
import type { Directive } from './parse.js';
import { childScope, type Scope } from './scope.js';
import { hasVariable, serverOf } from './content-util.js';

/** Directives that give a location its own content handler: such a location serves no files. */
const HANDLERS = ['proxy_pass', 'fastcgi_pass', 'uwsgi_pass', 'scgi_pass', 'grpc_pass', 'memcached_pass', 'return'];

/** Whether nginx's static module answers in this location (no other content handler). */
export function servesFiles(scope: Scope): boolean {
  return !scope.directives.some((d) => HANDLERS.includes(d.name));
}

/** The location's match as written: modifier ('' for a prefix) and its path or regex. */
export function locationMatch(scope: Scope): { modifier: string; path: string } | undefined {
  const args = scope.directive?.args ?? [];
  if (scope.kind !== 'location' || args.length === 0) return undefined;
  return args.length === 1 ? { modifier: '', path: args[0] ?? '' } : { modifier: args[0] ?? '', path: args[1] ?? '' };
}

/** root or alias in force: nginx stores both in one slot, so the innermost of either wins. */
export function rootOrAlias(scope: Scope): Directive | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const d = s.directives.filter((x) => x.name === 'root' || x.name === 'alias').at(-1);
    if (d !== undefined) return d;
  }
  return undefined;
}

/** The location nginx would route `uri` to in this server: `=`, else a `^~` longest prefix, else the first matching regex, else the longest prefix. */
export function locationFor(server: Scope, uri: string): Directive | undefined {
  const locations = server.directives.filter((x) => x.name === 'location');
  const exact = locations.find((l) => l.args[0] === '=' && l.args[1] === uri);
  if (exact !== undefined) return exact;
  let best: Directive | undefined;
  for (const l of locations) {
    const path = l.args.length === 1 ? l.args[0] ?? '' : l.args[0] === '^~' ? l.args[1] ?? '' : undefined;
    if (path !== undefined && !path.startsWith('@') && uri.startsWith(path) && path.length > (best === undefined ? -1 : (best.args.at(-1) ?? '').length)) best = l;
  }
  if (best?.args[0] === '^~') return best;
  const regex = locations.find((l) => (l.args[0] === '~' || l.args[0] === '~*') && matches(l.args[1] ?? '', l.args[0] === '~*', uri));
  return regex ?? best;
}

function matches(pattern: string, caseless: boolean, uri: string): boolean {
  try {
    return new RegExp(pattern, caseless ? 'i' : '').test(uri);
  } catch {
    return false; // A PCRE-only construct: the core translator reports the location itself.
  }
}

/** The file nginx ends up serving for URI (an error_page or try_files target): the root or alias of the location that takes it. */
export function fileFor(scope: Scope, uri: string): string | { why: string } {
  const server = serverOf(scope);
  const loc = server === undefined ? undefined : locationFor(server, uri);
  const target = server === undefined ? scope : loc === undefined ? server : childScope(server, loc);
  if (!servesFiles(target)) return { why: `${uri} is answered by \`location ${loc?.args.join(' ') ?? ''}\`'s upstream or return, not a file` };
  const where = rootOrAlias(target);
  const path = where?.args[0];
  if (where === undefined || path === undefined || hasVariable(path)) return { why: `no fixed root serves ${uri}` };
  if (where.name === 'root') return join(path, uri);
  const prefix = loc?.args.at(-1) ?? '';
  return loc?.args[0] === '=' ? path : join(path, uri.slice(prefix.length));
}
