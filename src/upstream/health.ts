import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import type { Logger } from '../log.js';
import type { TargetState, Upstream } from './pool.js';

/** Injectable time so tests can drive probes without waiting. */
export interface Clock {
  setInterval(fn: () => void, ms: number): () => void;
}

export const realClock: Clock = {
  setInterval(fn, ms) {
    const timer = setInterval(fn, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
};

/** One probe: HTTP GET expecting 2xx/3xx, or a WebSocket handshake. Resolves true when healthy. */
export function probe(target: TargetState, path: string, type: 'http' | 'websocket', timeout: number): Promise<boolean> {
  return new Promise((resolve) => {
    const host = target.config.host.includes(':') ? `[${target.config.host}]` : target.config.host;
    if (type === 'websocket') {
      const scheme = target.config.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${host}:${target.config.port}${path}`, { handshakeTimeout: timeout, headers: { 'user-agent': 'gatehouse-health' }, ...target.tls });
      ws.on('open', () => { ws.terminate(); resolve(true); });
      ws.on('error', () => resolve(false));
      ws.on('unexpected-response', (_req, res) => { res.resume(); ws.terminate(); resolve(false); });
      return;
    }
    const send = target.config.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      host: target.config.host, port: target.config.port, path, method: 'GET', agent: false, timeout, ...target.tls,
      headers: { 'user-agent': 'gatehouse-health', connection: 'close' },
    }, (res) => {
      res.resume();
      const status = res.statusCode ?? 0;
      resolve(status >= 200 && status < 400);
    });
    req.on('timeout', () => req.destroy(new Error('health check timed out')));
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Active health checks for one upstream: every `interval`, probe each target and flip its
 * `activeUp`. State lives on the TargetState (keyed by address), so a reload that keeps an
 * address keeps its verdict. Returns the stopper.
 */
export function startHealthChecks(upstream: Upstream, log: Logger, onChange: (t: TargetState, up: boolean) => void, clock: Clock = realClock): () => void {
  const check = upstream.config.healthCheck;
  if (check === null) return () => undefined;
  let stopped = false;
  const inFlight = new Set<TargetState>();
  const round = (): void => {
    for (const target of upstream.targets) {
      if (inFlight.has(target)) continue;
      inFlight.add(target);
      void probe(target, check.path, check.type, check.timeout).then((up) => {
        inFlight.delete(target);
        if (stopped || up === target.activeUp) return;
        target.activeUp = up;
        log[up ? 'info' : 'warn']({ event: 'health', upstream: upstream.name, target: target.id, up }, up ? 'target recovered' : 'target failed its health check');
        onChange(target, up);
      });
    }
  };
  round();
  const stop = clock.setInterval(round, check.interval);
  return () => {
    stopped = true;
    stop();
  };
}
