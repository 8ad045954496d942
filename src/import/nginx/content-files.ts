import { basename, dirname, join } from 'node:path';
import type { Directive } from './parse.js';
import { nearest, nearestOne } from './scope.js';
import { flag, hasVariable, own, relativeNote, serverOf, type Ctx } from './content-util.js';
import { fileFor, locationFor, locationMatch, rootOrAlias, servesFiles } from './content-where.js';
import { proxyTarget } from './upstream-ref.js';

/**
 * `files` of a location nginx serves from disk (README "Serving files"): root/alias, index, try_files,
 * gzip_static/brotli_static, internal. Sets nothing when the location has another handler.
 */
export function translateFiles(ctx: Ctx, route: Record<string, unknown>): void {
  const { scope, report, consumed } = ctx;
  for (const d of own(scope, 'autoindex')) {
    consumed.add(d);
    if (flag(d) === true) report.unsupported(d, 'Gatehouse never lists a folder: a folder without an index file is 404');
  }
  if (!servesFiles(scope)) {
    // Here root, alias, index and gzip_static change nothing (a proxy or return answers): carried over as that.
    const idle = [rootOrAlias(scope), ...nearest(scope, 'index'), nearestOne(scope, 'gzip_static'), nearestOne(scope, 'brotli_static')];
    for (const d of idle) if (d !== undefined) consumed.add(d);
    return;
  }
  const files: Record<string, unknown> = {};
  const where = rootOrAlias(scope);
  if (where === undefined) {
    const first = [...own(scope, 'try_files'), ...own(scope, 'index')][0];
    if (first !== undefined) report.unsupported(first, 'no root: nginx serves files from its own prefix\'s html folder; add files.root by hand');
    return;
  }
  const path = where.args[0] ?? '';
  if (hasVariable(path)) {
    report.unsupported(where, `${where.name} with a variable: Gatehouse's files.root is one folder`);
    return;
  }
  consumed.add(where);
  relativeNote(ctx, where, path);
  if (where.name === 'root') files.root = path;
  else if (!aliasInto(ctx, where, path, files)) return;

  const index = nearest(scope, 'index');
  const names = index.flatMap((d) => d.args);
  const plain = names.filter((n) => !n.includes('/') && !hasVariable(n) && !n.startsWith('.'));
  for (const d of index) {
    consumed.add(d);
    if (plain.length !== names.length) report.unsupported(d, 'an index with a variable, a "/" or a leading dot: Gatehouse\'s index is a plain file name');
  }
  if (index.length > 0 && !(plain.length === 1 && plain[0] === 'index.html')) files.index = plain;

  const tryFiles = own(scope, 'try_files').at(-1);
  if (tryFiles !== undefined && !translateTryFiles(ctx, tryFiles, files)) return;

  const precompressed: string[] = [];
  const brotli = nearestOne(scope, 'brotli_static');
  const gzip = nearestOne(scope, 'gzip_static');
  for (const [d, coding] of [[brotli, 'br'], [gzip, 'gzip']] as const) {
    if (d === undefined) continue;
    consumed.add(d);
    const v = d.args[0]?.toLowerCase();
    if (v === 'on' || v === 'always') precompressed.push(coding);
    if (v === 'always') report.difference(d, `nginx sends FILE.${coding === 'br' ? 'br' : 'gz'} whatever Accept-Encoding says; Gatehouse only to clients that accept ${coding}`);
  }
  if (precompressed.length > 0) files.precompressed = precompressed;

  for (const d of own(scope, 'internal')) {
    consumed.add(d);
    route.internal = true;
  }
  route.files = files;
}

/** alias → root + stripPrefix (a `location =` naming one file → its folder + that file). */
function aliasInto(ctx: Ctx, d: Directive, path: string, files: Record<string, unknown>): boolean {
  const match = locationMatch(ctx.scope);
  if (match === undefined || d !== own(ctx.scope, 'alias').at(-1)) {
    ctx.report.unsupported(d, 'alias inherited into a nested location: write the inner location\'s own alias');
    return false;
  }
  if (match.modifier === '=') {
    files.root = dirname(path);
    files.tryFiles = [`/${basename(path)}`];
    return true;
  }
  if (match.modifier === '~' || match.modifier === '~*') {
    ctx.report.unsupported(d, 'alias in a regex location (it takes the captures): Gatehouse\'s alias is a stripped prefix');
    return false;
  }
  files.root = path;
  files.stripPrefix = true;
  const locSlash = match.path.endsWith('/');
  const aliasSlash = path.endsWith('/');
  if (locSlash && !aliasSlash) {
    ctx.report.difference(d, `nginx glues the rest of the path onto "${path}" (${match.path}x → ${path}x, the alias traversal mistake); Gatehouse serves ${path}/x`);
  } else if (!locSlash && !aliasSlash) {
    ctx.report.difference(d, `nginx maps ${match.path}x to the sibling ${path}x; Gatehouse serves ${path}/x (end both with "/" to say what is meant)`);
  }
  return true;
}

/** nginx try_files arguments that Gatehouse can test, as tryFiles templates. */
function tryFilesEntry(arg: string): string | undefined {
  const text = arg.replace(/\$uri\b|\$\{uri\}|\$document_uri\b/g, '{path}');
  if (hasVariable(text) || text.includes('?')) return undefined;
  return text.startsWith('/') || text.startsWith('{path}') ? text : undefined;
}

/** try_files FILE… LAST: files in order, then `@named` (its upstream), `=404`, or a URI (a file here). */
function translateTryFiles(ctx: Ctx, d: Directive, files: Record<string, unknown>): boolean {
  const { report, consumed } = ctx;
  const args = d.args;
  const last = args.at(-1) ?? '';
  const entries: string[] = [];
  for (const arg of args.slice(0, -1)) {
    const entry = tryFilesEntry(arg);
    if (entry === undefined) {
      report.unsupported(d, `"${arg}": Gatehouse's tryFiles knows {path} ($uri) and literal paths`);
      return false;
    }
    entries.push(underAlias(ctx, files, entry));
  }
  if (last === '=404') {
    files.tryFiles = entries;
  } else if (/^=\d+$/.test(last)) {
    report.unsupported(d, `"${last}": Gatehouse answers 404 when no file matches`);
    return false;
  } else if (last.startsWith('@')) {
    const upstream = namedFallback(ctx, d, last);
    if (upstream === undefined) return false;
    files.tryFiles = entries;
    files.fallback = upstream;
  } else {
    const entry = tryFilesEntry(last);
    if (entry === undefined) {
      report.unsupported(d, `the last argument "${last}" is a URI nginx routes again (to another location); Gatehouse's tryFiles ends in a file or an upstream`);
      return false;
    }
    const file = underAlias(ctx, files, entry);
    if (!entry.includes('{path}') && !routedAlike(ctx, d, entry, join(String(files.root), file))) return false;
    entries.push(file);
    files.tryFiles = entries;
  }
  consumed.add(d);
  return true;
}

/**
 * nginx takes the location's prefix off a literal try_files name under `alias` (as it does off
 * $uri); Gatehouse's stripPrefix only strips {path}, so the literal is written without it.
 */
function underAlias(ctx: Ctx, files: Record<string, unknown>, entry: string): string {
  const prefix = locationMatch(ctx.scope)?.path ?? '';
  if (files.stripPrefix !== true || entry.startsWith('{') || prefix === '' || !entry.startsWith(prefix)) return entry;
  const rest = entry.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

/**
 * try_files' last URI is routed again in nginx; Gatehouse serves `here`, a file of this route.
 * The same when this location takes the URI; said when another one does, or another file.
 */
function routedAlike(ctx: Ctx, d: Directive, uri: string, here: string): boolean {
  const server = serverOf(ctx.scope);
  const loc = server === undefined ? undefined : locationFor(server, uri);
  if (loc !== undefined && loc === ctx.scope.directive) return true;
  const file = fileFor(ctx.scope, uri);
  if (typeof file !== 'string') {
    ctx.report.unsupported(d, `nginx routes "${uri}" again: ${file.why}`);
    return false;
  }
  if (loc === undefined && file === here) return true;
  const to = loc === undefined ? 'the server level' : `\`location ${loc.args.join(' ')}\``;
  ctx.report.difference(d, `nginx routes "${uri}" again, to ${to} (its settings apply${file === here ? '' : `, its file is ${file}`}); Gatehouse serves ${here} on this route`);
  return true;
}

/** `try_files … @app`: the named location must proxy; its proxy_pass upstream becomes the fallback. */
function namedFallback(ctx: Ctx, d: Directive, name: string): string | undefined {
  const { report, consumed } = ctx;
  const server = serverOf(ctx.scope);
  const loc = server?.directives.find((x) => x.name === 'location' && x.args[0] === name);
  if (loc === undefined || server === undefined) {
    report.unsupported(d, `no \`location ${name}\` in this server`);
    return undefined;
  }
  const inner = loc.block ?? [];
  const pass = inner.find((x) => x.name === 'proxy_pass');
  const target = pass === undefined ? undefined : proxyTarget(pass.args[0] ?? '');
  if (pass === undefined || target === undefined || 'error' in target) {
    report.unsupported(d, `\`location ${name}\` does not proxy_pass to one upstream${target !== undefined && 'error' in target ? ` (${target.error})` : ''}; Gatehouse's fallback is an upstream`);
    return undefined;
  }
  consumed.add(loc);
  consumed.add(pass);
  if (target.path !== null && target.path !== '/') {
    report.difference(pass, `nginx sends the request to "${target.path}" here; Gatehouse's fallback sends the request's own path`);
  }
  for (const x of inner) {
    if (x === pass || consumed.has(x)) continue;
    consumed.add(x);
    if (sentAnyway(x)) continue;
    report.difference(x, `in \`location ${name}\`, the try_files fallback: Gatehouse's fallback uses the route's own settings, not this`);
  }
  return target.upstream;
}

/** proxy_set_header lines that only say what Gatehouse sends upstream anyway (README "What it does, and why": Forwarding). */
export function sentAnyway(d: Directive): boolean {
  if (d.name !== 'proxy_set_header') return false;
  const name = (d.args[0] ?? '').toLowerCase();
  const value = d.args[1] ?? '';
  if (name === 'host') return value === '$host' || value === '$http_host';
  return /^(x-real-ip|x-forwarded-(for|proto|host))$/.test(name);
}
