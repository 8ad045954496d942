import { randomBytes } from 'node:crypto';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import { openTunnel, type UpgradeAnswer } from '../proxy/tunnel.js';
import { clientAddress } from '../listeners/client-address.js';
import { applyForwarded } from './forwarded.js';
import { sanitiseClientHeaders } from './hop-by-hop.js';
import { headerObject, upstreamHeaders } from './protocol.js';
import { respond } from './respond.js';
import { resolve } from './resolve.js';
import { checkOrigin, type Refusal, type UpgradeDeps } from './upgrade.js';

/** RFC 8441 §5: the response to an extended CONNECT has none of the HTTP/1.1 handshake's fields. */
const NOT_ON_H2 = new Set(['sec-websocket-accept', 'connection', 'upgrade']);

/**
 * WebSockets over h2 (RFC 8441): an extended CONNECT stream passes the same resolve and Origin
 * gate as an HTTP/1.1 upgrade (403 before any upstream is touched), then goes upstream as an
 * HTTP/1.1 Upgrade whose Sec-WebSocket-Key Gatehouse makes, so the 101's Accept is checked as
 * for any upgrade; the client gets 200 and the stream carries the WebSocket bytes.
 */
export function handleConnect(deps: UpgradeDeps, req: Http2ServerRequest, res: Http2ServerResponse): void {
  const runtime = deps.runtime();
  const hsts = runtime.hsts;
  const peer = clientAddress(req.socket);
  const path = req.headers[':path'] ?? '';
  const refuse = (refusal: Refusal, origin: string | null | undefined, host: string): void => {
    respond(res, refusal.status, hsts, refusal.reason, true);
    deps.metrics.websocketRefusals.labels(refusal.status === 403 ? 'origin' : String(refusal.status)).inc();
    deps.log.warn({ event: 'websocket-refused', protocol: 'h2', status: refusal.status, reason: refusal.reason, origin: origin ?? null, host, path, clientIp: peer }, 'websocket refused');
  };
  const protocol = req.headers[':protocol'];
  // A classic CONNECT (RFC 9113 §8.5) would make the edge an open TCP proxy.
  if (protocol === undefined) return refuse({ status: 405, reason: 'CONNECT is only for WebSockets (RFC 8441)' }, undefined, '');
  if (protocol !== 'websocket') return refuse({ status: 400, reason: `unsupported :protocol "${String(protocol)}"` }, undefined, '');
  if (deps.draining()) return refuse({ status: 503, reason: 'shutting down' }, undefined, '');
  const resolution = resolve(runtime, req);
  if (!resolution.ok) return refuse({ status: resolution.status, reason: resolution.reason }, undefined, resolution.host);
  if (req.headers['sec-websocket-version'] !== '13') {
    res.setHeader('sec-websocket-version', '13');
    return refuse({ status: 426, reason: 'unsupported Sec-WebSocket-Version' }, req.headers.origin, resolution.host);
  }
  const { route } = resolution;
  const denied = checkOrigin(req, route);
  if (denied !== undefined) return refuse(denied.refusal, denied.origin, resolution.host);

  const headers = upstreamHeaders(req);
  sanitiseClientHeaders(headers);
  const wsKey = randomBytes(16).toString('base64');
  headers['sec-websocket-key'] = wsKey;
  headers['sec-websocket-version'] = '13';
  const { clientIp } = applyForwarded(headers, peer, runtime.trust);
  const { timeouts } = runtime.config;
  openTunnel(deps.upstreams, res.stream, Buffer.alloc(0), {
    method: 'GET', path, headers, body: 'none',
    upstream: route.upstream, key: route.upstream.keyOf(clientIp),
    connectTimeout: timeouts.connect, responseTimeout: timeouts.response, bodyTimeout: timeouts.idle,
    upgradeKey: wsKey,
    target: undefined, tried: undefined, call: undefined,
    hsts, idleTimeout: timeouts.websocketIdle, answer: h2Answer(res, hsts),
    info: { host: resolution.host, path, clientIp, origin: req.headers.origin ?? null, protocol: 'h2' },
  }, deps.tunnels, deps.hooks);
}

function h2Answer(res: Http2ServerResponse, hsts: string): UpgradeAnswer {
  const stream = res.stream;
  const headers = (status: number, pairs: readonly string[]): void => {
    if (stream.destroyed || stream.headersSent) return;
    const kept: string[] = [];
    for (let i = 0; i < pairs.length; i += 2) {
      if (!NOT_ON_H2.has((pairs[i] as string).toLowerCase())) kept.push(pairs[i] as string, pairs[i + 1] as string);
    }
    const fields: Record<string, string | string[] | number> = headerObject(kept);
    fields[':status'] = status;
    try {
      stream.respond(fields);
    } catch {
      // A field h2 cannot carry: the client learns nothing better than a reset.
      stream.destroy();
    }
  };
  return {
    refuse: (status, body) => respond(res, status, hsts, body, true),
    relay: (status, _reason, pairs) => headers(status, pairs),
    accept: (pairs) => headers(200, pairs),
  };
}
