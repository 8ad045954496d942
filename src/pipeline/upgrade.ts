import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log.js';
import { openTunnel, type TunnelHooks, type TunnelRegistry } from '../proxy/tunnel.js';
import type { Runtime } from '../runtime.js';
import { clientAddress } from '../listeners/client-address.js';
import { applyForwarded } from './forwarded.js';
import { stripHopByHop } from './hop-by-hop.js';
import { respondRaw } from './respond.js';
import { resolve } from './resolve.js';
import type { Route } from './sites.js';

export interface UpgradeDeps {
  runtime(): Runtime;
  readonly tunnels: TunnelRegistry;
  readonly hooks: TunnelHooks;
  readonly log: Logger;
  readonly metrics: Metrics;
  draining(): boolean;
}

// A browser's handshake carries ~15 headers; hundreds are a flood that may be hiding something.
const MAX_UPGRADE_HEADERS = 100;
const KEY = /^[A-Za-z0-9+/]{22}==$/; // base64 of 16 bytes (RFC 6455 §4.1)

interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly extra?: string;
}

/** RFC 6455 §4.2.1 checks on the client's handshake; no upstream is contacted when one fails. */
function checkHandshake(req: IncomingMessage): Refusal | undefined {
  if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') return { status: 400, reason: 'only WebSocket upgrades are supported' };
  if (req.method !== 'GET') return { status: 400, reason: 'a WebSocket handshake must be a GET' };
  if (req.rawHeaders.length / 2 > MAX_UPGRADE_HEADERS) return { status: 431, reason: 'too many headers in a WebSocket handshake' };
  if (req.headers['sec-websocket-version'] !== '13') {
    return { status: 426, reason: 'unsupported Sec-WebSocket-Version', extra: 'Sec-WebSocket-Version: 13\r\n' };
  }
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || !KEY.test(key)) return { status: 400, reason: 'missing or malformed Sec-WebSocket-Key' };
  return undefined;
}

/** Every Origin the client sent, from the raw header list (Node would join duplicates into one string). */
function originsOf(req: IncomingMessage): string[] {
  const found: string[] = [];
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 6 && name.toLowerCase() === 'origin') found.push(raw[i + 1] as string);
  }
  return found;
}

/** The Origin gate (RFC 6455 §10.2): decided before any upstream connection exists. */
function checkOrigin(req: IncomingMessage, route: Route): { refusal: Refusal; origin: string | null } | undefined {
  const origins = originsOf(req);
  if (origins.length > 1) return { refusal: { status: 403, reason: 'more than one Origin header' }, origin: origins.join(' | ') };
  const origin = origins[0];
  if (origin === undefined) {
    return route.allowMissingOrigin ? undefined : { refusal: { status: 403, reason: 'missing Origin (set websocket.allowMissingOrigin for non-browser clients)' }, origin: null };
  }
  if (origin === 'null') return { refusal: { status: 403, reason: 'opaque Origin "null"' }, origin };
  if (!route.origins.allows(origin)) return { refusal: { status: 403, reason: 'Origin not allowed on this route' }, origin };
  return undefined;
}

/**
 * A module-level listener, not a closure: a closure here would keep this function's whole
 * context (the handshake's IncomingMessage and headers) alive as long as the tunnel.
 */
function destroySelf(this: Duplex): void {
  this.destroy();
}

/** The HTTPS upgrade pipeline: resolve like any request, then handshake checks, Origin gate, tunnel. */
export function handleUpgrade(deps: UpgradeDeps, req: IncomingMessage, socket: Duplex, head: Buffer): void {
  socket.on('error', destroySelf);
  const runtime = deps.runtime();
  const hsts = runtime.hsts;
  const peer = clientAddress(req.socket);
  const refuse = (refusal: Refusal, origin: string | null | undefined, host: string): void => {
    respondRaw(socket, refusal.status, hsts, refusal.reason, refusal.extra ?? '');
    deps.metrics.websocketRefusals.labels(refusal.status === 403 ? 'origin' : String(refusal.status)).inc();
    deps.log.warn({ event: 'websocket-refused', status: refusal.status, reason: refusal.reason, origin: origin ?? null, host, path: req.url, clientIp: peer }, 'websocket refused');
  };
  if (deps.draining()) return refuse({ status: 503, reason: 'shutting down' }, undefined, '');
  const resolution = resolve(runtime, req);
  if (!resolution.ok) return refuse({ status: resolution.status, reason: resolution.reason }, undefined, resolution.host);
  const bad = checkHandshake(req);
  if (bad !== undefined) return refuse(bad, req.headers.origin, resolution.host);
  const { route } = resolution;
  const denied = checkOrigin(req, route);
  if (denied !== undefined) return refuse(denied.refusal, denied.origin, resolution.host);

  const headers = { ...req.headers };
  stripHopByHop(headers);
  const { clientIp } = applyForwarded(headers, peer, runtime.trust);
  const { timeouts } = runtime.config;
  openTunnel(socket, head, {
    upstream: route.upstream, key: route.upstream.keyOf(clientIp), hsts,
    connectTimeout: timeouts.connect, responseTimeout: timeouts.response, idleTimeout: timeouts.websocketIdle,
    headers, path: req.url as string, wsKey: req.headers['sec-websocket-key'] as string,
    info: { host: resolution.host, path: req.url as string, clientIp, origin: req.headers.origin ?? null },
  }, deps.tunnels, deps.hooks);
}
