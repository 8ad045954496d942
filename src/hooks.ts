import type { ExchangeLineWriter } from './access-line.js';
import type { Metrics } from './admin/metrics.js';
import { rateLimitedByCause, type Logger } from './log.js';
import { logExchange } from './pipeline/request.js';
import type { ForwardHooks } from './proxy/forward.js';
import type { TunnelHooks } from './proxy/tunnel.js';
import type { UpstreamHooks } from './upstream/client.js';
import type { TargetState, Upstream } from './upstream/targets.js';

/** Where the request path reports what happened: logs and metrics, never an answer (pipeline/answers.ts writes those). */
export interface EdgeHooks {
  readonly forward: ForwardHooks;
  readonly tunnels: TunnelHooks;
  readonly upstream: UpstreamHooks;
  /** An active probe changed a target's health. */
  health(upstream: Upstream, target: TargetState, up: boolean): void;
}

/** Log and metric hooks of one edge: they observe, and never write an answer. */
export function createHooks(log: Logger, metrics: Metrics, exchangeLine: ExchangeLineWriter): EdgeHooks {
  const deps = { log, metrics, exchangeLine };
  // Per-request failures share a cause in an outage: the access line (info) stays per request,
  // the warning is per cause and interval, so log volume does not follow traffic.
  const failing = rateLimitedByCause(log, 1000);
  return {
    forward: {
      done: (exchange, res) => {
        logExchange(deps, exchange, res);
        const error = exchange.error;
        // A client's own failure (a body too large or too slow) says nothing about the upstream:
        // its access line has the code, and no outage warning names the upstream for it.
        if (error !== undefined && error.source !== 'client') failing(`${error.code} ${exchange.upstream.name}`, { event: 'request-failed', upstream: exchange.upstream.name, code: error.code, err: error.message }, 'requests failing');
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
      declined: (status, target, info) => {
        log.info({ event: 'websocket-declined', ...info, status, target }, 'upstream declined the websocket upgrade');
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
