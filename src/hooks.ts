import type { Metrics } from './admin/metrics.js';
import { rateLimitedByCause, type Logger } from './log.js';
import { logExchange } from './pipeline/request.js';
import { respondWithPage } from './pipeline/error-pages.js';
import { failAnswer } from './pipeline/shaper.js';
import type { ForwardHooks } from './proxy/forward.js';
import type { TunnelHooks } from './proxy/tunnel.js';
import type { UpstreamHooks } from './upstream/attempt.js';
import type { TargetState, Upstream } from './upstream/pool.js';

/** Where the request path reports what happened: logs and metrics, nothing else. */
export interface EdgeHooks {
  readonly forward: ForwardHooks;
  readonly tunnels: TunnelHooks;
  readonly upstream: UpstreamHooks;
  /** An active probe changed a target's health. */
  health(upstream: Upstream, target: TargetState, up: boolean): void;
}

/** Log and metric hooks of one edge; `hsts()` is read per answer (a reload can change it). */
export function createHooks(log: Logger, metrics: Metrics, hsts: () => string): EdgeHooks {
  const deps = { log, metrics };
  // Per-request failures share a cause in an outage: the access line (info) stays per request,
  // the warning is per cause and interval, so log volume does not follow traffic.
  const failing = rateLimitedByCause(log, 1000);
  return {
    forward: {
      done: (exchange, res) => {
        logExchange(deps, exchange, res);
        const error = exchange.error;
        if (error !== undefined) failing(`${error.code} ${exchange.upstream.name}`, { event: 'request-failed', upstream: exchange.upstream.name, code: error.code, err: error.message }, 'requests failing');
      },
      // 408 also closes: the request body was left half-read (failAnswer). A site's error page wins for its statuses.
      fail: (res, error, exchange) => {
        const pages = exchange.pages;
        if (pages !== undefined && pages.pages.has(error.status)) respondWithPage(res, pages, error.status, exchange.hsts === null ? null : hsts(), error.text, error.status === 408, undefined, exchange.shaper?.ruled(exchange) ?? null);
        else failAnswer(res, error, exchange, hsts());
      },
    },
    tunnels: {
      opened: (t) => {
        metrics.websockets.inc();
        log.info({ event: 'websocket-open', ...t.info, target: t.target }, 'websocket open');
      },
      closed: (t, bytesIn, bytesOut) => {
        metrics.websockets.dec();
        log.info({ event: 'websocket-close', ...t.info, target: t.target, durationMs: Math.round(performance.now() - t.start), bytesIn, bytesOut }, 'websocket close');
      },
      failed: (error, status, target, info) => {
        log.info({ event: 'websocket-failed', ...info, status, target, code: error.code, err: error.message }, 'websocket handshake failed');
        failing(`${error.code} websocket ${target ?? '-'}`, { event: 'websocket-failed', target, code: error.code, err: error.message }, 'websocket handshakes failing');
      },
    },
    upstream: {
      targetDown: (target, error) => {
        log.warn({ event: 'health', target: target.id, up: false, code: error.code, err: error.message }, 'target marked down after repeated failures');
      },
    },
    health: (upstream, target, up) => metrics.targetUp.labels(upstream.name, target.id).set(up ? 1 : 0),
  };
}
