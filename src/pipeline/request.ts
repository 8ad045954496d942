import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Metrics } from '../admin/metrics.js';
import type { Logger } from '../log.js';
import type { BodyFraming, Exchange, Forwarder } from '../proxy/forward.js';
import type { Runtime } from '../runtime.js';
import { clientAddress } from '../listeners/client-address.js';
import { applyForwarded } from './forwarded.js';
import { stripHopByHop } from './hop-by-hop.js';
import { respond } from './respond.js';
import { resolve } from './resolve.js';

/** What the HTTPS request path needs from the edge. */
export interface RequestDeps {
  runtime(): Runtime;
  readonly forwarder: Forwarder;
  readonly log: Logger;
  readonly metrics: Metrics;
  draining(): boolean;
}

/** Node's parser already refused ambiguous framing (both headers, bad codings): one of three remains. */
function bodyFraming(req: IncomingMessage): BodyFraming {
  if (req.headers['transfer-encoding'] !== undefined) return 'chunked';
  const length = req.headers['content-length'];
  return length !== undefined && length !== '0' ? 'length' : 'none';
}

/** The HTTPS request pipeline: HSTS first, then resolve, forwarded headers, proxy. */
export function handleRequest(deps: RequestDeps, req: IncomingMessage, res: ServerResponse): void {
  const start = performance.now();
  const runtime = deps.runtime();
  // HSTS is on every answer: respond() sets it on generated ones, the forwarder on proxied ones.
  const draining = deps.draining();
  if (draining) res.setHeader('connection', 'close');
  const resolution = resolve(runtime, req);
  if (!resolution.ok) {
    respond(res, resolution.status, runtime.hsts, resolution.reason, resolution.status === 400);
    logLocal(deps, req, res, start, resolution.host, resolution.reason);
    return;
  }
  const bodyLimit = runtime.config.limits.bodySize;
  if (bodyLimit > 0 && !withinBodyLimit(req, res, runtime.hsts, bodyLimit)) {
    logLocal(deps, req, res, start, resolution.host, 'request body too large');
    return;
  }
  const { route } = resolution;
  const peer = clientAddress(req.socket);
  const headers = req.headers;
  const body = bodyFraming(req);
  // Node already answered "100 Continue" to the client; the upstream must not wait for one.
  delete headers.expect;
  stripHopByHop(headers);
  const { clientIp } = applyForwarded(headers, peer, runtime.trust);
  const exchange: Exchange = {
    method: req.method ?? '',
    host: resolution.host,
    clientIp,
    label: route.label,
    upstream: route.upstream,
    key: route.upstream.keyOf(clientIp),
    hsts: runtime.hsts,
    connectTimeout: runtime.config.timeouts.connect,
    responseTimeout: runtime.config.timeouts.response,
    bodyTimeout: runtime.config.timeouts.idle,
    body,
    path: req.url as string,
    headers,
    closeClient: draining,
    target: undefined,
    tried: undefined,
    call: undefined,
    bytes: 0,
    start,
    headersAt: 0,
    error: undefined,
  };
  deps.forwarder.web(req, res, exchange);
}

/** 413 before anything reaches an upstream when Content-Length says too much; chunked bodies are counted as they stream. */
function withinBodyLimit(req: IncomingMessage, res: ServerResponse, hsts: string, limit: number): boolean {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) {
    respond(res, 413, hsts, `request body larger than ${limit} bytes`, true);
    return false;
  }
  if (req.headers['transfer-encoding'] !== undefined) {
    let seen = 0;
    // Paused first, so counting does not start the flow: the body waits for its upstream connection.
    req.pause();
    req.on('data', (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > limit) {
        respond(res, 413, hsts, `request body larger than ${limit} bytes`, true);
        req.destroy();
      }
    });
  }
  return true;
}

function logLocal(deps: RequestDeps, req: IncomingMessage, res: ServerResponse, start: number, host: string, reason: string): void {
  deps.metrics.request('-', res.statusCode);
  deps.log.info({
    method: req.method, host, path: req.url, status: res.statusCode, durationMs: round(performance.now() - start),
    clientIp: clientAddress(req.socket), target: null, bytes: 0, reason,
  }, 'request');
}

/** The one log line per proxied request (DESIGN §12), written when the client's response closes. */
export function logExchange(deps: Pick<RequestDeps, 'log' | 'metrics'>, exchange: Exchange, res: ServerResponse): void {
  const error = exchange.error;
  const status = res.headersSent ? res.statusCode : error?.status ?? 0;
  deps.metrics.request(exchange.label, status);
  if (exchange.headersAt > 0) deps.metrics.upstreamLatency(exchange.upstream.name, (exchange.headersAt - exchange.start) / 1000);
  const fields = {
    method: exchange.method, host: exchange.host, path: exchange.path, status, durationMs: round(performance.now() - exchange.start),
    clientIp: exchange.clientIp, target: exchange.target?.id ?? null, bytes: exchange.bytes,
    ...(res.writableFinished ? {} : { aborted: true }),
    ...(error === undefined ? {} : { err: error.message, code: error.code }),
  };
  if (error !== undefined) deps.log.warn(fields, 'request');
  else deps.log.info(fields, 'request');
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}
