import { readFileSync } from 'node:fs';
import type { Directive } from './parse.js';
import { nearest, nearestOne, type Scope } from './scope.js';
import { hasVariable, relativeNote, serverOf, template, type Ctx } from './content-util.js';
import { sentAnyway } from './content-files.js';
import { locationFor, locationMatch } from './content-where.js';
import { proxyTarget } from './upstream-ref.js';
import { signInRefused } from '../../config/guard.js';
import { parseTemplate } from '../../config/template.js';

/** auth_basic and auth_request in force here → the route's `auth` (README "Access control"). */
export function translateAuth(ctx: Ctx, route: Record<string, unknown>): void {
  const auth: Record<string, unknown> = {};
  const basic = basicAuth(ctx);
  if (basic !== undefined) auth.basic = basic;
  const forward = forwardAuth(ctx);
  if (forward !== undefined) auth.forward = forward;
  if (Object.keys(auth).length > 0) route.auth = auth;
}

function basicAuth(ctx: Ctx): Record<string, unknown> | undefined {
  const { scope, report, consumed } = ctx;
  const d = nearestOne(scope, 'auth_basic');
  if (d === undefined) return undefined;
  consumed.add(d);
  const realm = d.args[0] ?? '';
  if (realm === 'off') return undefined;
  const file = nearestOne(scope, 'auth_basic_user_file');
  if (file === undefined) {
    report.unsupported(d, 'no auth_basic_user_file: nginx refuses the configuration');
    return undefined;
  }
  consumed.add(file);
  const users = file.args[0] ?? '';
  if (hasVariable(realm) || hasVariable(users)) {
    report.unsupported(hasVariable(realm) ? d : file, 'a variable: Gatehouse\'s realm and users file are fixed');
    return undefined;
  }
  relativeNote(ctx, file, users);
  checkHashes(ctx, file, users);
  return { realm, users };
}

/** nginx checks passwords with crypt(3) and more schemes than Gatehouse; say whose would stop working. */
function checkHashes(ctx: Ctx, d: Directive, path: string): void {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return; // Not on this machine: nothing to check; Gatehouse's own `check` reads it where it runs.
  }
  const refused: string[] = [];
  for (const line of text.split('\n')) {
    const at = line.indexOf(':');
    if (line.trim() === '' || line.startsWith('#') || at === -1) continue;
    const hash = line.slice(at + 1).split(':')[0]?.trim() ?? '';
    if (!/^(\$2[aby]\$|\$apr1\$|\{SHA\})/.test(hash)) refused.push(`${line.slice(0, at)} (${scheme(hash)})`);
  }
  if (refused.length > 0) {
    ctx.report.unsupported(d, `Gatehouse checks bcrypt, apr1 and {SHA} hashes, so these users cannot log in: ${refused.join(', ')}; set their passwords again with htpasswd -B`);
  }
}

function scheme(hash: string): string {
  if (hash.startsWith('{PLAIN}')) return 'plain text';
  if (hash.startsWith('{SSHA}')) return 'salted SHA-1';
  const id = /^\$(\w+)\$/.exec(hash)?.[1];
  const names: Readonly<Record<string, string>> = { 1: 'MD5-crypt', 5: 'SHA-256-crypt', 6: 'SHA-512-crypt', y: 'yescrypt', gy: 'gost-yescrypt' };
  if (id !== undefined) return names[id] ?? `$${id}$`;
  return hash.length === 13 ? 'DES crypt' : 'unknown scheme';
}

// What Gatehouse sends the auth service itself (README "Access control"): these need no line.
const FORWARDED = /^x-forwarded-(method|proto|host|uri|for)$/i;
// Lines of the usual auth location that only keep the body away, as Gatehouse's GET does.
const BODYLESS = (d: Directive): boolean =>
  (d.name === 'proxy_pass_request_body' && d.args[0] === 'off') ||
  (d.name === 'proxy_set_header' && /^content-length$/i.test(d.args[0] ?? '') && (d.args[1] ?? '') === '');

function forwardAuth(ctx: Ctx): Record<string, unknown> | undefined {
  const { scope, report, consumed } = ctx;
  const d = nearestOne(scope, 'auth_request');
  if (d === undefined) return undefined;
  consumed.add(d);
  const uri = d.args[0] ?? '';
  if (uri === 'off') return undefined;
  const server = serverOf(scope);
  const loc = server === undefined ? undefined : locationFor(server, uri);
  const inner = loc?.block ?? [];
  const pass = inner.find((x) => x.name === 'proxy_pass');
  const target = pass === undefined || server === undefined ? undefined : proxyTarget(pass.args[0] ?? '');
  if (loc === undefined || pass === undefined || target === undefined || 'error' in target) {
    report.unsupported(d, `the location for ${uri} does not proxy_pass to one upstream${target !== undefined && 'error' in target ? ` (${target.error})` : ''}: Gatehouse's auth.forward asks an upstream`);
    return undefined;
  }
  consumed.add(loc);
  consumed.add(pass);
  const match = locationMatch({ kind: 'location', directive: loc, directives: inner });
  // proxy_pass with a URI part replaces the part of the subrequest's URI that the location matched.
  const path = target.path === null ? uri : `${target.path}${match?.modifier === '=' ? '' : uri.slice((match?.path ?? '').length)}`;
  for (const x of inner) {
    if (consumed.has(x)) continue;
    consumed.add(x);
    if (x.name === 'internal' || BODYLESS(x) || sentAnyway(x)) continue;
    if (x.name === 'proxy_set_header' && FORWARDED.test(x.args[0] ?? '')) continue;
    if (x.name === 'proxy_set_header') {
      report.difference(x, `Gatehouse sends the auth service the client's headers and X-Forwarded-Method, -Proto, -Host, -Uri and -For, not ${x.args[0] ?? ''}`);
      continue;
    }
    report.difference(x, `in the auth_request location ${uri}: Gatehouse's auth.forward has no such setting`);
  }
  const forward: Record<string, unknown> = { upstream: target.upstream, path };
  const copy = copyHeaders(ctx);
  if (copy.length > 0) forward.copyHeaders = copy;
  const signIn = signInOf(ctx);
  if (signIn !== undefined) forward.signIn = signIn;
  report.difference(d, `an auth answer other than 2xx${signIn === undefined ? '' : ' or 401'} goes to the client as it is; nginx passes on 401 and 403 and turns any other into 500`);
  return forward;
}

/**
 * `error_page 401 [=302] URL` under auth_request: nginx answers a 302 to URL instead of the 401,
 * the login redirect of the oauth2-proxy and Authelia guides (content-errors.ts leaves the line here).
 * A path starting with "/" is an internal redirect in nginx, not this.
 */
export function isSignInPage(scope: Scope, d: Directive): boolean {
  const auth = nearestOne(scope, 'auth_request');
  if (auth === undefined || auth.args[0] === 'off') return false;
  const codes = d.args.filter((a) => /^\d{3}$/.test(a));
  const response = d.args.find((a) => a.startsWith('='));
  const uri = d.args.at(-1) ?? '';
  return codes.length === 1 && codes[0] === '401' && (response === undefined || response === '=302') && /^(https?:\/\/|\$)/.test(uri);
}

/** That line as auth.forward.signIn: `set` variables written out, nginx's variables as placeholders. */
function signInOf(ctx: Ctx): string | undefined {
  const { scope, report, consumed } = ctx;
  const page = nearest(scope, 'error_page').find((x) => isSignInPage(scope, x));
  if (page === undefined) return undefined;
  consumed.add(page);
  const uri = (page.args.at(-1) ?? '').replace(/\$(?:\{(\w+)\}|(\w+))/g, (whole, braced?: string, bare?: string) => setValue(scope, braced ?? bare ?? '') ?? whole);
  const { text, unknown } = template(uri);
  const parsed = parseTemplate(text);
  const refused = unknown[0] ?? (typeof parsed === 'string' ? parsed : signInRefused(parsed));
  if (refused !== undefined) {
    report.unsupported(page, `${refused} is not known when Gatehouse's auth decides (auth.forward.signIn takes $scheme, $host, $request_uri, $args, $remote_addr and $http_NAME)`);
    return undefined;
  }
  if (!/^(https?:\/\/|\{scheme\}:\/\/)/.test(text)) {
    report.unsupported(page, 'the sign-in URL does not start with a scheme and host: Gatehouse\'s auth.forward.signIn is a URL or a path on this host');
    return undefined;
  }
  return text;
}

/** The value of `set $name VALUE;` in force at `scope` (the innermost, last one), if any. */
function setValue(scope: Scope, name: string): string | undefined {
  for (let s: Scope | undefined = scope; s !== undefined; s = s.parent) {
    const set = s.directives.filter((d) => d.name === 'set' && d.args[0] === `$${name}`).at(-1);
    if (set !== undefined) return set.args[1];
  }
  return undefined;
}

/**
 * The idiom `auth_request_set $user $upstream_http_remote_user;` + `proxy_set_header Remote-User
 * $user;` → copyHeaders: [Remote-User]. Renaming, or sending it to the client, cannot be said.
 */
function copyHeaders(ctx: Ctx): string[] {
  const { scope, report, consumed } = ctx;
  const out: string[] = [];
  const setHeaders = nearest(scope, 'proxy_set_header');
  for (const set of nearest(scope, 'auth_request_set')) {
    consumed.add(set);
    const variable = set.args[0] ?? '';
    const from = /^\$upstream_http_(\w+)$/.exec(set.args[1] ?? '')?.[1];
    const users = setHeaders.filter((h) => h.args[1] === variable);
    const header = users[0]?.args[0];
    if (from === undefined || header === undefined || header.toLowerCase().replace(/-/g, '_') !== from.toLowerCase() || users.length > 1) {
      report.unsupported(set, `Gatehouse copies an auth answer's header onto the request under its own name (copyHeaders), nothing else: ${variable} is not used that way`);
      continue;
    }
    for (const h of users) consumed.add(h);
    out.push(header);
  }
  return out;
}
