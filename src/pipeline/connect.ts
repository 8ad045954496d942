import { randomBytes } from 'node:crypto';
import { ERRORS } from '../errors.js';
import type { UpgradeAnswer } from '../proxy/tunnel.js';
import { clientAddress } from '../http/client-address.js';
import type { H2Request, H2Response } from '../http/h2-exchange.js';
import { headerObject, upstreamHeaders } from '../http/message.js';
import { respond } from '../http/respond.js';
import { actionAnswer, contextOf, writeAnswer } from './actions.js';
import { resolve } from './resolve.js';
import { bodyRefusal, checkOrigin, refusal, refuser, startTunnel, type UpgradeDeps } from './upgrade.js';

/** RFC 8441 §5: the response to an extended CONNECT has none of the HTTP/1.1 handshake's fields. */
const NOT_ON_H2 = new Set(['sec-websocket-accept', 'connection', 'upgrade']);

/**
 * WebSockets over h2 (RFC 8441): an extended CONNECT stream passes the same resolve and Origin
 * gate as an HTTP/1.1 upgrade (403 before any upstream is touched), then goes upstream as an
 * HTTP/1.1 Upgrade whose Sec-WebSocket-Key Gatehouse makes, so the 101's Accept is checked as
 * for any upgrade; the client gets 200 and the stream carries the WebSocket bytes.
 */
export function handleConnect(deps: UpgradeDeps, req: H2Request, res: H2Response): void {
  const runtime = deps.runtime();
  const hsts = runtime.hsts;
  const peer = clientAddress(req.socket);
  const path = req.url;
  const refuse = refuser(deps, 'h2', path, peer, (r) => respond(res, r.error, hsts, r.error.message, true));
  const protocol = req.headers[':protocol'];
  // A classic CONNECT (RFC 9113 §8.5) would make the edge an open TCP proxy.
  if (protocol === undefined) return refuse(refusal('EDGE_ERR_METHOD_NOT_ALLOWED', 'CONNECT is only for WebSockets (RFC 8441)'), undefined, '');
  if (protocol !== 'websocket') return refuse(refusal('EDGE_ERR_BAD_REQUEST', `unsupported :protocol "${String(protocol)}"`), undefined, '');
  if (deps.draining()) return refuse(refusal('EDGE_ERR_SHUTTING_DOWN', ERRORS.EDGE_ERR_SHUTTING_DOWN.text), undefined, '');
  const resolution = resolve(runtime, req);
  if (!resolution.ok) return refuse({ error: resolution.error }, undefined, resolution.host);
  if (req.headers['sec-websocket-version'] !== '13') {
    res.setHeader('sec-websocket-version', '13');
    return refuse(refusal('EDGE_ERR_UPGRADE_REQUIRED', 'unsupported Sec-WebSocket-Version'), req.headers.origin, resolution.host);
  }
  const body = bodyRefusal(req.headers);
  if (body !== undefined) return refuse(body, req.headers.origin, resolution.host);
  const { route } = resolution;
  if (route.action.kind !== 'upstream' && route.action.kind !== 'files') {
    const c = contextOf(req, req.headers, route, resolution.host, resolution.path, 'https', peer);
    writeAnswer(res, actionAnswer(route, c), hsts, true);
    deps.log.info({ event: 'websocket-answered', protocol: 'h2', host: resolution.host, path, clientIp: peer, route: route.path }, 'websocket answered by its route');
    return;
  }
  // A files route tunnels to its fallback upstream; without one (or internal) it takes no WebSocket.
  const upstream = route.internal ? undefined : route.upstream;
  if (upstream === undefined) return refuse(refusal('EDGE_ERR_NO_ROUTE', 'a files route takes no WebSocket'), req.headers.origin, resolution.host);
  const denied = checkOrigin(req, route);
  if (denied !== undefined) return refuse(denied.refusal, denied.origin, resolution.host);

  const headers = upstreamHeaders(req);
  const wsKey = randomBytes(16).toString('base64');
  headers['sec-websocket-key'] = wsKey;
  headers['sec-websocket-version'] = '13';
  startTunnel(deps, runtime, route, upstream, resolution.host, {
    client: res.stream, head: Buffer.alloc(0), path, headers, upgradeKey: wsKey, peer, protocol: 'h2', scheme: 'https', answer: h2Answer(res, hsts),
  });
}

function h2Answer(res: H2Response, hsts: string): UpgradeAnswer {
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
    refuse: (error) => respond(res, error, hsts, error.text, true),
    relay: (status, _reason, pairs) => headers(status, pairs),
    accept: (pairs) => headers(200, pairs),
  };
}
