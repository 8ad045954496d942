import type { Directive } from './parse.js';
import type { Scope } from './scope.js';
import type { Ctx } from './context.js';
import type { Action } from './actions.js';
import { EVERYTHING, formatNet } from './cidr.js';
import { serverOf } from './content-util.js';

/**
 * `location / { try_files /dev/null @api; }` (PeerTube's idiom): a file that never exists, so
 * nginx always goes on to `location @api`. The location is read with that one's content as if
 * written in it (its proxy_pass, limits, timeouts, headers); this location's own lines stay
 * where the named one does not set the same directive, since nginx answers with the named
 * location's configuration. Anything else: the location as it is.
 */
export function withNamedContent(loc: Scope, ctx: Ctx): Scope {
  const tryFiles = loc.directives.filter((x) => x.name === 'try_files').at(-1);
  const args = tryFiles?.args ?? [];
  const name = args.at(-1) ?? '';
  if (tryFiles === undefined || args.length < 2 || !name.startsWith('@') || !args.slice(0, -1).every((a) => a === '/dev/null')) return loc;
  const named = serverOf(loc)?.directives.find((x) => x.name === 'location' && x.args.length === 1 && x.args[0] === name);
  ctx.consumed.add(tryFiles);
  if (named === undefined) {
    ctx.report.unsupported(tryFiles, `no \`location ${name}\` in this server`);
    return { ...loc, directives: loc.directives.filter((x) => x !== tryFiles) };
  }
  ctx.consumed.add(named);
  const body = named.block ?? [];
  const theirs = new Set(body.map((x) => x.name));
  return { ...loc, directives: [...loc.directives.filter((x) => x !== tryFiles && !theirs.has(x.name)), ...body] };
}

/** What the raw-URI idiom is made of (rawPrefixStrip). */
export interface RawStrip {
  readonly rewrites: readonly Directive[];
  readonly pass: Directive;
  /** The proxy_pass URL without its `$uri`. */
  readonly url: string;
}

/**
 * Gitea's sub-path idiom (its docs, "Reverse Proxies"), in `location /P/`:
 * `rewrite ^ $request_uri; rewrite ^/P(/.*) $1 break; proxy_pass http://up$uri;` sends the
 * request-target as the client wrote it (`%2F` not decoded) without `/P`: Gatehouse's
 * stripPrefix, which keeps `%2F` and the query too. Only this exact shape: anything else with a
 * variable in proxy_pass stays unsupported.
 */
export function rawPrefixStrip(loc: Scope, prefix: string | undefined): RawStrip | undefined {
  const rewrites = loc.directives.filter((x) => x.name === 'rewrite');
  const passes = loc.directives.filter((x) => x.name === 'proxy_pass');
  const [raw, strip] = rewrites;
  const pass = passes[0];
  if (prefix === undefined || !prefix.endsWith('/') || rewrites.length !== 2 || passes.length !== 1 || raw === undefined || strip === undefined || pass === undefined) return undefined;
  if (raw.args.length !== 2 || raw.args[0] !== '^' || raw.args[1] !== '$request_uri') return undefined;
  const [re = '', to, flag] = strip.args;
  const literal = /^\^((?:[^()\\[\]*+?.|^$]|\\[/.-])*)\(\/\.\*\)\$?$/.exec(re)?.[1]?.replace(/\\(.)/g, '$1');
  if (to !== '$1' || flag !== 'break' || strip.args.length !== 3 || literal === undefined || `${literal}/` !== prefix) return undefined;
  const url = /^(https?:\/\/[^/$]+)(?:\$uri|\$\{uri\})$/.exec(pass.args[0] ?? '')?.[1];
  if (url === undefined || pass.args.length !== 1) return undefined;
  return { rewrites: [raw, strip], pass, url };
}

/**
 * A location whose only content is allow/deny (and lines that mean nothing here, such as
 * access_log): nginx's static module would answer those it admits. `deny all` admits no one, so
 * every request gets nginx's 403, which the route's `access` gives; with addresses admitted,
 * nginx serves them files from its default root, which the import does not know: they get 404.
 * undefined: the location holds something else that went untranslated.
 */
export function accessOnlyAction(loc: Scope, access: unknown, ctx: Ctx): Action | undefined {
  if (access === undefined || loc.directives.some((x) => x.name !== 'location' && !ctx.consumed.has(x))) return undefined;
  const deny = (access as { deny?: readonly string[] }).deny ?? [];
  if (EVERYTHING.map(formatNet).every((net) => deny.includes(net))) return { respond: { status: 403 } };
  ctx.report.difference(loc.directive as Directive, 'the addresses allowed here get 404: nginx would serve them files from its default root (html under its prefix)');
  return { respond: { status: 404 } };
}
