import { randomUUID } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { HeaderRules } from '../config/types.js';
import type { Duplex } from 'node:stream';
import { statusOf, type EdgeError } from '../errors.js';
import { authorityOf, expand, type RequestContext } from './expand.js';
import { AnswerRules, applyResponseRules } from './header-rules.js';
import type { ClientRequest, ClientResponse } from '../http/message.js';
import { reasonPhrase, respond, respondWith } from '../http/respond.js';
import { withoutQuery } from './resolve.js';
import type { Route, Site } from './sites.js';

/** The request's placeholder values; built only for a route or site that uses them. */
export function contextOf(req: ClientRequest, headers: IncomingHttpHeaders, route: Route | undefined, host: string, routed: string, scheme: 'http' | 'https', remoteAddr: string): RequestContext {
  const path = withoutQuery(routed);
  const regex = route?.regex ?? null;
  return {
    scheme,
    host,
    port: (req.socket as Socket).localPort ?? 0,
    uri: req.url ?? '/',
    path,
    restStart: route?.kind === 'prefix' ? route.path.length : path.length,
    remoteAddr,
    requestId: route?.usesRequestId === true ? randomUUID() : '',
    headers,
    match: regex === null ? null : regex.exec(path),
  };
}

/**
 * A generated answer under header rules (nginx's `add_header … always`): the plain respond()
 * when there are none, so a config without rules writes exactly what it wrote before.
 */
export function respondRuled(res: ClientResponse, error: EdgeError, hsts: string | null, text: string, close: boolean, rules: HeaderRules | null, c: RequestContext | null, extra?: readonly string[]): void {
  if ((rules === null || c === null) && extra === undefined) return respond(res, error, hsts, text, close);
  const status = error.status;
  const pairs = ['content-type', 'text/plain; charset=utf-8', 'cache-control', 'no-store', ...(extra ?? [])];
  if (rules !== null && c !== null) applyResponseRules(rules, status, pairs, c);
  respondWith(res, status, pairs, `${text}\n`, hsts, close);
}

/** A generated answer before it is written: to a response, or raw to an upgrade's socket. */
export interface Answer {
  readonly status: number;
  readonly pairs: string[];
  readonly body: string;
  /** The connection cannot be trusted further (a 400). */
  readonly close: boolean;
}

/** `redirect` (route or site) and the "/p" → "/p/" 301: Location is always absolute, on this host unless `to` names another. */
export function redirectAnswer(route: Route, c: RequestContext): Answer {
  const action = route.action;
  let location: string | null;
  let status = 301;
  if (action.kind === 'redirect') {
    location = expand(action.to, c);
    status = action.status;
    if (location !== null && !action.absolute) location = onThisHost(location);
  } else {
    const q = c.uri.indexOf('?');
    location = `${c.path}/${q === -1 ? '' : c.uri.slice(q)}`;
  }
  if (location === null) return { status: statusOf('EDGE_ERR_BAD_REQUEST'), pairs: ['content-type', 'text/plain; charset=utf-8'], body: 'redirect target would carry CR, LF or NUL\n', close: true };
  // RFC 9110 §10.2.2 allows a relative Location, but browsers resolve "/\evil" or "//evil"
  // against the authority: made absolute here (as nginx's absolute_redirect), it cannot move.
  if (action.kind !== 'redirect' || !action.absolute) location = `${c.scheme}://${authorityOf(c.scheme, c.host, c.port)}${location}`;
  const pairs = ['location', location];
  if (route.headers !== null) applyResponseRules(route.headers, status, pairs, c);
  return { status, pairs, body: '', close: false };
}

/**
 * A path-form target as a path on this host: the URL parser (WHATWG) drops tabs and newlines
 * and reads "\" as "/", so any leading run of those becomes one "/" ("//evil", "/\evil",
 * "/\t/evil" stay here). An encoded "%2F%2Fevil" is a path segment already.
 */
function onThisHost(location: string): string {
  let i = 0;
  while (i < location.length && (location[i] === '/' || location[i] === '\\' || location[i] === '\t')) i++;
  return `/${location.slice(i)}`;
}

/** `respond`: status, body (a template), fields; Content-Type text/plain unless the route sets one. */
export function respondAnswer(route: Route, c: RequestContext): Answer {
  const action = route.action;
  if (action.kind !== 'respond') return redirectAnswer(route, c);
  const pairs: string[] = [];
  let typed = false;
  for (const { name, value } of action.headers) {
    const text = expand(value, c);
    if (text === null || text === '') continue;
    pairs.push(name, text);
    typed ||= name === 'content-type';
  }
  const body = action.body === null ? '' : expand(action.body, c, false) ?? '';
  if (!typed && action.body !== null) pairs.push('content-type', 'text/plain; charset=utf-8');
  if (route.headers !== null) applyResponseRules(route.headers, action.status, pairs, c);
  return { status: action.status, pairs, body, close: false };
}

/** The answer of a redirect or respond route. */
export function actionAnswer(route: Route, c: RequestContext): Answer {
  return route.action.kind === 'respond' ? respondAnswer(route, c) : redirectAnswer(route, c);
}

export function writeAnswer(res: ClientResponse, answer: Answer, hsts: string | null, close: boolean): void {
  respondWith(res, answer.status, answer.pairs, answer.body, hsts, close || answer.close);
}

/** The same on an HTTP/1.1 upgrade's socket: a redirect or respond route answers the handshake with its answer. */
export function writeAnswerRaw(socket: Duplex, answer: Answer, hsts: string | null): void {
  let head = `HTTP/1.1 ${answer.status} ${reasonPhrase(answer.status, 'Status')}\r\n`;
  for (let i = 0; i < answer.pairs.length; i += 2) head += `${answer.pairs[i] as string}: ${answer.pairs[i + 1] as string}\r\n`;
  head += `Content-Length: ${Buffer.byteLength(answer.body)}\r\n`;
  if (hsts !== null) head += `Strict-Transport-Security: ${hsts}\r\n`;
  socket.end(`${head}Connection: close\r\n\r\n${answer.body}`);
  setTimeout(() => socket.destroy(), 5000).unref();
}

/** Site-level header rules for an answer no route gave (404, 405 of this site). */
export function siteRules(site: Site | undefined): HeaderRules | null {
  return site === undefined ? null : site.headers;
}

/** Response rules with their context for an answer the edge writes; null, and no context built, when `rules` has none. */
export function ruledBy(rules: HeaderRules | null, context: () => RequestContext): AnswerRules | null {
  return rules === null || rules.response.length === 0 ? null : new AnswerRules(rules, context());
}
