import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../admin/metrics.js';
import { EdgeError, ERRORS, type EdgeErrorCode } from '../errors.js';
import type { Logger } from '../log.js';
import { openTunnel, type TunnelHooks, type TunnelInfo, type TunnelRegistry, type UpgradeAnswer } from '../proxy/tunnel.js';
import { hstsOver, type Runtime } from './runtime.js';
import type { UpstreamClient } from '../upstream/client.js';
import { clientAddress } from '../http/client-address.js';
import { applyForwarded } from '../http/forwarded.js';
import { sanitiseClientHeaders } from '../http/hop-by-hop.js';
import type { ClientRequest } from '../http/message.js';
import { respondRaw } from '../http/respond.js';
import { resolve } from './resolve.js';
import { admitUpgrade } from './guard/doors.js';
import type { Route } from './sites.js';
import type { Upstream } from '../upstream/targets.js';
import { actionAnswer, contextOf, writeAnswerRaw } from './actions.js';

export interface UpgradeDeps {
  runtime(): Runtime;
  readonly upstreams: UpstreamClient;
  readonly tunnels: TunnelRegistry;
  readonly hooks: TunnelHooks;
  readonly log: Logger;
  readonly metrics: Metrics;
  draining(): boolean;
}

// A browser's handshake carries ~15 headers; hundreds are a flood that may be hiding something.
const MAX_UPGRADE_HEADERS = 100;
const KEY = /^[A-Za-z0-9+/]{22}==$/; // base64 of 16 bytes (RFC 6455 §4.1)

/** An upgrade refused before any upstream is contacted: its status comes from the errors.ts table, its message is the body. */
export interface Refusal {
  readonly error: EdgeError;
  /** Raw header lines for the h1 answer (426's Sec-WebSocket-Version). */
  readonly extra?: string;
}

export function refusal(code: EdgeErrorCode, reason: string, extra?: string): Refusal {
  return { error: new EdgeError(code, reason), ...(extra === undefined ? {} : { extra }) };
}

/** The websocketRefusals label: the Origin gate's and access rules' 403s are 'origin', the rest their status. */
function refusalLabel(error: EdgeError): string {
  return error.code === 'EDGE_ERR_FORBIDDEN_ORIGIN' || error.code === 'EDGE_ERR_ACCESS_DENIED' ? 'origin' : String(error.status);
}

/**
 * A handshake that announces a body (RFC 9112 §6.3: any Transfer-Encoding, a Content-Length
 * other than 0). A WebSocket handshake has none (RFC 6455 §4.1, RFC 8441 §5), and the bytes
 * after it belong to the tunnel, so such a body is never forwarded: had its framing gone
 * upstream, an upstream that refused the upgrade and kept the connection would read the next
 * request on that pooled connection, any client's, as this body (request smuggling). Refused
 * before any upstream is touched, on h1 and h2 alike.
 */
export function bodyRefusal(headers: IncomingHttpHeaders): Refusal | undefined {
  const length = headers['content-length'];
  if (headers['transfer-encoding'] === undefined && (length === undefined || length === '0')) return undefined;
  return refusal('EDGE_ERR_UPGRADE_BODY', 'a WebSocket handshake must not announce a body (Content-Length or Transfer-Encoding)');
}

/**
 * http.Server's `shouldUpgradeCallback` (Node 22.21+/24.9+): only a WebSocket handshake becomes
 * an 'upgrade' event. Any other Upgrade (h2c's `Connection: Upgrade, HTTP2-Settings`) is served
 * as the plain request it also is (RFC 9110 §7.8: a server may ignore Upgrade), as nginx and
 * Caddy do; its Upgrade, Connection and HTTP2-Settings are hop-by-hop and stop here. Node 20
 * ignores the option: there every Upgrade reaches handleUpgrade, which refuses it with a 400.
 */
export function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * A request Node parsed as an upgrade and the callback above declined. Node's parser stops after
 * such a request and drops whatever else arrived in the same read (a pipelined request would get
 * no answer), so its response closes the connection: RFC 9112 §9.3.2 has the client retry the
 * rest on a new one.
 */
export function declinedUpgrade(req: IncomingMessage): boolean {
  const connection = req.headers.connection;
  return req.headers.upgrade !== undefined && connection !== undefined && CONNECTION_UPGRADE.test(connection);
}

const CONNECTION_UPGRADE = /(?:^|,)[ \t]*upgrade[ \t]*(?:,|$)/i;

/** RFC 6455 §4.2.1 checks on the client's handshake; no upstream is contacted when one fails. */
function checkHandshake(req: IncomingMessage): Refusal | undefined {
  if (!isWebSocketUpgrade(req)) return refusal('EDGE_ERR_BAD_REQUEST', 'only WebSocket upgrades are supported');
  if (req.method !== 'GET') return refusal('EDGE_ERR_BAD_REQUEST', 'a WebSocket handshake must be a GET');
  const body = bodyRefusal(req.headers);
  if (body !== undefined) return body;
  if (req.rawHeaders.length / 2 > MAX_UPGRADE_HEADERS) return refusal('EDGE_ERR_HEADERS_TOO_LARGE', 'too many headers in a WebSocket handshake');
  if (req.headers['sec-websocket-version'] !== '13') {
    return refusal('EDGE_ERR_UPGRADE_REQUIRED', 'unsupported Sec-WebSocket-Version', 'Sec-WebSocket-Version: 13\r\n');
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY.test(key)) return refusal('EDGE_ERR_BAD_REQUEST', 'missing or malformed Sec-WebSocket-Key');
  return undefined;
}

/** Every Origin the client sent, from the raw header list (Node would join duplicates into one string). */
function originsOf(req: ClientRequest): string[] {
  const found: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 6 && name.toLowerCase() === 'origin') found.push(raw[i + 1] as string);
  }
  return found;
}

/** The Origin gate (RFC 6455 §10.2): decided before any upstream connection exists. */
export function checkOrigin(req: ClientRequest, route: Route): { refusal: Refusal; origin: string | null } | undefined {
  const origins = originsOf(req);
  if (origins.length > 1) return { refusal: refusal('EDGE_ERR_FORBIDDEN_ORIGIN', 'more than one Origin header'), origin: origins.join(' | ') };
  const origin = origins[0];
  if (origin === undefined) {
    return route.allowMissingOrigin ? undefined : { refusal: refusal('EDGE_ERR_FORBIDDEN_ORIGIN', 'missing Origin (set websocket.allowMissingOrigin for non-browser clients)'), origin: null };
  }
  if (origin === 'null') return { refusal: refusal('EDGE_ERR_FORBIDDEN_ORIGIN', 'opaque Origin "null"'), origin };
  if (!route.origins.allows(origin)) return { refusal: refusal('EDGE_ERR_FORBIDDEN_ORIGIN', 'Origin not allowed on this route'), origin };
  return undefined;
}

type RefuseFn = (refusal: Refusal, origin: string | null | undefined, host: string) => void;

/** A refusal for one handshake: `write` answers in the client's protocol, then it is counted and logged alike on h1 and h2. */
export function refuser(deps: UpgradeDeps, protocol: TunnelInfo['protocol'], path: string | undefined, clientIp: string, write: (refusal: Refusal) => void): RefuseFn {
  return (refusal, origin, host) => {
    write(refusal);
    const error = refusal.error;
    deps.metrics.websocketRefusals.labels(refusalLabel(error)).inc();
    deps.log.warn({ event: 'websocket-refused', protocol, status: error.status, code: error.code, reason: error.message, origin: origin ?? null, host, path, clientIp }, 'websocket refused');
  };
}

/** A handshake that passed its checks, as the shared tunnel step takes it from h1 or h2. */
export interface AcceptedHandshake {
  readonly client: Duplex;
  /** Bytes the client sent past its handshake (h1 only). */
  readonly head: Buffer;
  readonly path: string;
  /** The client's headers, copied: they are sanitised and forwarded in place. */
  readonly headers: IncomingHttpHeaders;
  readonly upgradeKey: string;
  readonly peer: string;
  readonly protocol: TunnelInfo['protocol'];
  /** The listener it came in on: 'http' is :80 for a `plainHttp: serve` site (no HSTS there). */
  readonly scheme: 'http' | 'https';
  readonly answer?: UpgradeAnswer;
}

/** The upstream side of any WebSocket handshake: client headers cleaned, forwarded headers set, one tunnel through the attempt path. */
export function startTunnel(deps: UpgradeDeps, runtime: Runtime, route: Route, upstream: Upstream, host: string, hs: AcceptedHandshake): void {
  const { headers } = hs;
  sanitiseClientHeaders(headers);
  // Checked to be absent or 0 (bodyRefusal): the handshake goes upstream without body framing.
  delete headers['content-length'];
  const { clientIp } = applyForwarded(headers, hs.peer, runtime.trust, hs.scheme);
  const hsts = hstsOver(runtime, hs.scheme);
  const timeouts = route.timeouts ?? runtime.config.timeouts;
  const open = (): void => openTunnel(deps.upstreams, hs.client, hs.head, {
    method: 'GET', path: hs.path, headers, body: 'none',
    upstream, key: upstream.requestKey(clientIp),
    connectTimeout: timeouts.connect, responseTimeout: timeouts.response, bodyTimeout: timeouts.idle,
    upgradeKey: hs.upgradeKey,
    hsts, idleTimeout: timeouts.websocketIdle,
    ...(hs.answer === undefined ? {} : { answer: hs.answer }),
    info: { host, path: hs.path, clientIp, origin: headers.origin ?? null, protocol: hs.protocol },
  }, deps.tunnels, deps.hooks);
  const guard = route.guard === null ? undefined : runtime.guards.of(route.guard);
  if (guard === undefined) open();
  else admitUpgrade(guard, deps, { client: hs.client, protocol: hs.protocol, path: hs.path, host, clientIp, hsts, headers }, open);
}

/**
 * A module-level listener, not a closure: a closure here would keep this function's whole
 * context (the handshake's IncomingMessage and headers) alive as long as the tunnel.
 */
function destroySelf(this: Duplex): void {
  this.destroy();
}

/**
 * The upgrade pipeline: resolve like any request, then handshake checks, Origin gate, tunnel.
 * `scheme` 'http': a `plainHttp: serve` site's upgrade on :80 (the :80 listener checked the site).
 */
export function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer, scheme: 'http' | 'https' = 'https'): void {
  socket.on('error', destroySelf);
  const runtime = deps.runtime();
  const hsts = hstsOver(runtime, scheme);
  const peer = clientAddress(req.socket);
  const refuse = refuser(deps, 'http/1.1', req.url, peer, (r) => respondRaw(socket, r.error, hsts, r.error.message, r.extra ?? ''));
  if (deps.draining()) return refuse(refusal('EDGE_ERR_SHUTTING_DOWN', ERRORS.EDGE_ERR_SHUTTING_DOWN.text), undefined, '');
  const resolution = resolve(runtime, req, scheme);
  if (!resolution.ok) return refuse({ error: resolution.error }, undefined, resolution.host);
  const bad = checkHandshake(req);
  if (bad !== undefined) return refuse(bad, req.headers.origin, resolution.host);
  const { route } = resolution;
  if (route.action.kind !== 'upstream' && route.action.kind !== 'files') {
    // A redirect or respond route answers the handshake as it answers any request.
    const c = contextOf(req, req.headers, route, resolution.host, resolution.path, scheme, peer);
    writeAnswerRaw(socket, actionAnswer(route, c), hsts);
    deps.log.info({ event: 'websocket-answered', protocol: 'http/1.1', host: resolution.host, path: req.url, clientIp: peer, route: route.path }, 'websocket answered by its route');
    return;
  }
  // A files route tunnels to its fallback upstream; without one (or internal) it takes no WebSocket.
  const upstream = route.internal ? undefined : route.upstream;
  if (upstream === undefined) return refuse(refusal('EDGE_ERR_NO_ROUTE', 'a files route takes no WebSocket'), req.headers.origin, resolution.host);
  const denied = checkOrigin(req, route);
  if (denied !== undefined) return refuse(denied.refusal, denied.origin, resolution.host);

  startTunnel(deps, runtime, route, upstream, resolution.host, {
    client: socket, head, path: req.url as string, headers: { ...req.headers },
    upgradeKey: req.headers['sec-websocket-key'] as string, peer, protocol: 'http/1.1', scheme,
  });
}
