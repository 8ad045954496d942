import { randomBytes } from 'node:crypto';
import type { HealthCheckConfig } from '../config/types.js';
import type { Logger } from '../log.js';
import type { Sending, UpstreamClient, UpstreamRequest, UpstreamSink } from './client.js';
import type { TargetState, Upstream } from './targets.js';
import type { ResponseHead } from './response-parser.js';

/** The verdict of one probe. */
type Verdict = (up: boolean) => void;

/** A probe's sink: it only needs the status (or the checked 101), never the body. */
class ProbeSink implements UpstreamSink {
  readonly source = undefined;
  readonly #done: Verdict;
  /** A WebSocket probe: only a checked 101 is healthy. */
  readonly #upgrade: boolean;
  #status = 0;

  constructor(done: Verdict, upgrade: boolean) {
    this.#done = done;
    this.#upgrade = upgrade;
  }

  gone(): boolean {
    return false;
  }

  head(head: ResponseHead): void {
    this.#status = head.status;
  }

  body(): boolean {
    return true;
  }

  end(): void {
    this.#done(!this.#upgrade && this.#status >= 200 && this.#status < 400);
  }

  upgrade(socket: { destroy(): void }): void {
    socket.destroy();
    this.#done(true);
  }

  fail(): void {
    this.#done(false);
  }
}

/**
 * One probe through the one attempt path (same pool, parser, timeouts and 101 check as client
 * traffic), pinned to `target`: an HTTP GET expecting 2xx/3xx, or for `type: websocket` a
 * handshake that must end in a checked 101. `timeout` bounds the connect and then the answer.
 * Returns its Sending, so a stop can abort it.
 */
export function probe(client: UpstreamClient, upstream: Upstream, target: TargetState, check: HealthCheckConfig, done: Verdict): Sending {
  const { host, port, socketPath } = target.config;
  // A Unix socket has no authority of its own: "localhost", as nginx's $proxy_host says for `unix:`.
  const authority = socketPath === undefined ? `${host.includes(':') ? `[${host}]` : host}:${port}` : host;
  const headers: Record<string, string> = { host: authority, 'user-agent': 'gatehouse-health' };
  let upgradeKey: string | undefined;
  if (check.type === 'websocket') {
    upgradeKey = randomBytes(16).toString('base64');
    headers['sec-websocket-key'] = upgradeKey;
    headers['sec-websocket-version'] = '13';
  }
  const request: UpstreamRequest = {
    method: 'GET', path: check.path, headers, body: 'none', upstream, key: '', pinned: target,
    connectTimeout: check.timeout, responseTimeout: check.timeout, bodyTimeout: check.timeout,
    ...(upgradeKey === undefined ? {} : { upgradeKey }),
  };
  return client.send(request, new ProbeSink(done, upgradeKey !== undefined));
}

/**
 * Active health checks of every upstream of one runtime, with one owner and one stop(): every
 * `interval`, probe each target. A failed probe takes it out; a good one brings it back at once,
 * even from passive failures inside failTimeout (README, `upstreams.NAME.healthCheck`). State lives on the TargetState
 * (keyed by address), so a reload that keeps an address keeps its verdict.
 */
export class HealthChecks {
  readonly #rounds: HealthRounds[] = [];
  #stopped = false;

  constructor(upstreams: Iterable<Upstream>, client: UpstreamClient, log: Logger, onChange: (u: Upstream, t: TargetState, up: boolean) => void) {
    for (const upstream of upstreams) {
      const check = upstream.config.healthCheck;
      if (check === null) continue;
      this.#rounds.push(new HealthRounds(upstream, check, client, log, onChange));
    }
  }

  /** Stop every timer and abort probes in flight. Idempotent. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const rounds of this.#rounds) rounds.stop();
  }
}

/** Where one upstream's rounds are: `Running` — its interval timer is armed; `Stopped` — for good, late verdicts are dropped. */
const enum Rounds { Running, Stopped }

/**
 * One upstream's probe rounds: one interval timer; each tick probes every target that has no
 * probe in flight (a slow target is not probed twice at once).
 */
class HealthRounds {
  readonly #upstream: Upstream;
  readonly #check: HealthCheckConfig;
  readonly #client: UpstreamClient;
  readonly #log: Logger;
  readonly #onChange: (u: Upstream, t: TargetState, up: boolean) => void;
  readonly #inFlight = new Map<TargetState, Sending>();
  readonly #timer: NodeJS.Timeout;
  #state = Rounds.Running;

  constructor(upstream: Upstream, check: HealthCheckConfig, client: UpstreamClient, log: Logger, onChange: (u: Upstream, t: TargetState, up: boolean) => void) {
    this.#upstream = upstream;
    this.#check = check;
    this.#client = client;
    this.#log = log;
    this.#onChange = onChange;
    this.round();
    this.#timer = setInterval(nextRound, check.interval, this);
    this.#timer.unref();
  }

  /** Probe every target that has no probe in flight. */
  round(): void {
    for (const target of this.#upstream.targets) {
      if (this.#inFlight.has(target)) continue;
      this.#inFlight.set(target, probe(this.#client, this.#upstream, target, this.#check, (up) => this.#verdict(target, up)));
    }
  }

  /** Stop the timer and abort probes in flight. */
  stop(): void {
    this.#state = Rounds.Stopped;
    clearInterval(this.#timer);
    for (const sending of this.#inFlight.values()) sending.abort();
    this.#inFlight.clear();
  }

  #verdict(target: TargetState, up: boolean): void {
    this.#inFlight.delete(target);
    if (this.#state === Rounds.Stopped) return;
    const changed = up ? target.probedUp(Date.now()) : target.activeUp;
    if (!up) target.activeUp = false;
    if (!changed) return;
    this.#log[up ? 'info' : 'warn']({ event: 'health', upstream: this.#upstream.name, target: target.id, up }, up ? 'target recovered' : 'target failed its health check');
    this.#onChange(this.#upstream, target, up);
  }
}

function nextRound(rounds: HealthRounds): void {
  rounds.round();
}
