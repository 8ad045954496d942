import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Metrics } from '../../admin/metrics.js';
import type { Logger } from '../../log.js';
import type { Exchange } from '../../proxy/forward.js';
import type { AnswerRules } from '../header-rules.js';
import type { ClientResponse } from '../../http/message.js';
import { answerResponse, answerSocket, answerStream, type Denial } from './answer.js';
import type { Guard } from './guard.js';
import { REQUEST_HEADERS } from '../../access-log.js';

interface Observers {
  readonly log: Logger;
  readonly metrics: Metrics;
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** What a guarded request brings to the door: a proxied request's Exchange, or the same facts for a `files` route. */
export type RequestKnock = Pick<Exchange, 'method' | 'protocol' | 'host' | 'path' | 'start' | 'clientIp' | 'label' | 'hsts' | 'headers'>;

/** A guarded request: refused with its own answer (under the route's header rules) and log line (README "What it does, and why": Logs), or sent on by `go`. */
export function admitRequest(guard: Guard, deps: Observers, res: ClientResponse, exchange: RequestKnock, ruled: AnswerRules | null, go: () => void): void {
  guard.admit(exchange, {
    pass: go,
    setHeader: (name, value) => res.setHeader(name, value),
    deny: (d: Denial, extra) => {
      answerResponse(res, d, exchange.hsts, ruled);
      deps.metrics.request(exchange.label, d.status, exchange.protocol);
      deps.log.warn({
        method: exchange.method, protocol: exchange.protocol, host: exchange.host, path: exchange.path, status: d.status,
        durationMs: round(performance.now() - exchange.start), clientIp: exchange.clientIp, target: null, bytes: 0,
        reason: d.reason, rule: d.rule, code: d.code ?? 'auth-answer', ...extra, [REQUEST_HEADERS]: exchange.headers,
      }, 'request');
    },
  });
}

/** What an upgrade brings to the door: its client side (an h1 socket or an RFC 8441 stream) and how it was asked. */
export interface UpgradeKnock {
  readonly client: Duplex;
  readonly protocol: 'http/1.1' | 'h2';
  readonly path: string;
  readonly host: string;
  readonly clientIp: string;
  /** null on :80 (`plainHttp: serve`). */
  readonly hsts: string | null;
  readonly headers: Exchange['headers'];
}

/** A guarded upgrade: decided before any tunnel or upstream connection exists. */
export function admitUpgrade(guard: Guard, deps: Observers, k: UpgradeKnock, go: () => void): void {
  guard.admit({ method: 'GET', path: k.path, host: k.host, clientIp: k.clientIp, headers: k.headers }, {
    pass: go,
    setHeader: () => undefined,
    deny: (d: Denial, extra) => {
      if (k.protocol === 'h2') answerStream(k.client as ServerHttp2Stream, d, k.hsts);
      else answerSocket(k.client, d, k.hsts);
      deps.metrics.websocketRefusals.labels(String(d.status)).inc();
      deps.log.warn({
        event: 'websocket-refused', protocol: k.protocol, status: d.status, reason: d.reason, rule: d.rule, code: d.code ?? 'auth-answer',
        host: k.host, path: k.path, clientIp: k.clientIp, ...extra,
      }, 'websocket refused');
    },
  });
}
