import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EdgeError } from '../errors.js';
import { responseHeaders } from '../http/hop-by-hop.js';
import { respondRaw } from '../http/respond.js';
import type { Sending, UpstreamClient, UpstreamRequest, UpstreamSink } from '../upstream/client.js';
import type { TargetState } from '../upstream/targets.js';
import type { ResponseHead } from '../upstream/response-parser.js';
import { FrameBoundary, CLOSE_GOING_AWAY } from './frames.js';

/** One open WebSocket tunnel, as the registry and the logs see it. */
export interface Tunnel {
  readonly client: Duplex;
  readonly upstream: Socket;
  readonly target: string;
  readonly start: number;
  /** Tracks frame boundaries of upstream→client bytes so a close frame can be injected safely. */
  readonly boundary: FrameBoundary;
  readonly info: TunnelInfo;
}

/** Open tunnels, so shutdown can wait for them and then close them (server.close() ignores upgraded sockets). */
export class TunnelRegistry {
  readonly #open = new Set<Tunnel>();
  #idle: Promise<void> | undefined;
  #resolveIdle: (() => void) | undefined;

  get size(): number {
    return this.#open.size;
  }

  add(tunnel: Tunnel): () => void {
    this.#open.add(tunnel);
    return () => {
      if (!this.#open.delete(tunnel) || this.#open.size > 0) return;
      const resolve = this.#resolveIdle;
      this.#idle = undefined;
      this.#resolveIdle = undefined;
      resolve?.();
    };
  }

  /** Resolves when every tunnel has closed by itself: at once when none is open, else as the last one goes. */
  idle(): Promise<void> {
    if (this.#open.size === 0) return Promise.resolve();
    this.#idle ??= new Promise((resolve) => { this.#resolveIdle = resolve; });
    return this.#idle;
  }

  /** Going away (RFC 6455 §7.4.1, 1001): a close frame where one can be written between frames, then close. */
  closeAll(): void {
    for (const t of this.#open) {
      if (t.boundary.atBoundary()) t.client.end(CLOSE_GOING_AWAY);
      else t.client.destroy();
      t.upstream.destroy();
      setTimeout(() => t.client.destroy(), 1000).unref();
    }
  }
}

/** A WebSocket handshake to send upstream, and what the tunnel after it needs. */
export interface TunnelRequest extends UpstreamRequest {
  readonly upgradeKey: string;
  /** null on :80 (`plainHttp: serve`): no HSTS over plain HTTP. */
  readonly hsts: string | null;
  readonly idleTimeout: number;
  readonly info: TunnelInfo;
  /** How the client hears the outcome; HTTP/1.1 bytes on the upgraded socket when absent. */
  readonly answer?: UpgradeAnswer;
}

/**
 * The client side of a handshake. An h1 client gets raw HTTP/1.1 on its upgraded socket; an
 * h2 client (RFC 8441 §5) gets HEADERS on its CONNECT stream: 200 instead of 101, never a
 * Connection, Upgrade or Sec-WebSocket-Accept field.
 */
export interface UpgradeAnswer {
  /** Gatehouse's own refusal (502, 504…, the table's text as body), then the client is closed. */
  refuse(error: EdgeError): void;
  /** The upstream's answer when it was not a 101 (header pairs with HSTS); its body follows, then the client ends. */
  relay(status: number, reason: string, headers: readonly string[]): void;
  /** The tunnel opens: the upstream's end-to-end headers and HSTS. */
  accept(headers: readonly string[]): void;
}

/** The HTTP/1.1 answer on an upgraded socket, as latin1 text: the parser read the headers a byte per character. */
function h1Answer(client: Duplex, hsts: string | null): UpgradeAnswer {
  return {
    refuse: (error) => respondRaw(client, error, hsts, error.text),
    // The parser refused CR, LF and controls in the reason.
    relay: (status, reason, headers) => { client.write(`HTTP/1.1 ${status} ${reason}\r\n${headerText(headers)}Connection: close\r\n\r\n`, 'latin1'); },
    accept: (headers) => { client.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headerText(headers)}\r\n`, 'latin1'); },
  };
}

/** What logs say about a tunnel. */
export interface TunnelInfo {
  readonly host: string;
  readonly path: string;
  readonly clientIp: string;
  readonly origin: string | null;
  readonly protocol: 'http/1.1' | 'h2';
}

export interface TunnelHooks {
  opened(tunnel: Tunnel): void;
  closed(tunnel: Tunnel, bytesIn: number, bytesOut: number): void;
  /** The handshake failed before a tunnel existed; the client was answered with `status`. */
  failed(error: EdgeError, status: number, target: string | null, info: TunnelInfo): void;
  /** The upstream answered the handshake with an ordinary status (404, 401, 426…), relayed as it is: no failure of anyone's. */
  declined(status: number, target: string | null, info: TunnelInfo): void;
}

/**
 * Send the client's handshake through the one attempt path; only a checked 101 opens a tunnel
 * (the attempt path checks it). Client bytes sent after its handshake stay buffered in the
 * paused client socket until then.
 */
export function openTunnel(upstreams: UpstreamClient, client: Duplex, head: Buffer, req: TunnelRequest, registry: TunnelRegistry, hooks: TunnelHooks): void {
  new UpgradeExchange(client, head, req, registry, hooks).send(upstreams);
}

/**
 * The sink of one handshake. A refusal (any final status but a checked 101: 404, 426, 401…) is
 * relayed with HSTS and `Connection: close` under the same timeouts as any response, and
 * abandoned when the client leaves; once a byte of it went out, a failure only closes.
 */
class UpgradeExchange implements UpstreamSink {
  readonly source = undefined;
  readonly #client: Duplex;
  readonly #head: Buffer;
  readonly #req: TunnelRequest;
  readonly #registry: TunnelRegistry;
  readonly #hooks: TunnelHooks;
  readonly #answer: UpgradeAnswer;
  #relaying = false;
  /** Set as soon as the handshake goes upstream (a synchronous failure comes before). */
  #sending: Sending | undefined;

  constructor(client: Duplex, head: Buffer, req: TunnelRequest, registry: TunnelRegistry, hooks: TunnelHooks) {
    this.#client = client;
    this.#head = head;
    this.#req = req;
    this.#registry = registry;
    this.#hooks = hooks;
    this.#answer = req.answer ?? h1Answer(client, req.hsts);
    client.pause();
    client.once('close', this.#left);
  }

  send(upstreams: UpstreamClient): void {
    this.#sending = upstreams.send(this.#req, this);
  }

  readonly #left = (): void => this.#sending?.abort();

  readonly #drained = (): void => this.#sending?.resume();

  gone(): boolean {
    return this.#client.destroyed;
  }

  head(head: ResponseHead): void {
    this.#relaying = true;
    const req = this.#req;
    this.#answer.relay(head.status, head.reason, relayHeaders(head, req.hsts));
    this.#hooks.declined(head.status, this.#sending?.target?.id ?? null, req.info);
  }

  body(chunk: Buffer): boolean {
    if (this.#client.write(chunk)) return true;
    this.#client.once('drain', this.#drained);
    return false;
  }

  end(tail: Buffer | undefined): void {
    this.#client.off('close', this.#left);
    this.#client.end(tail);
  }

  upgrade(socket: Socket, head: ResponseHead, rest: Buffer, target: TargetState): void {
    this.#client.off('close', this.#left);
    splice(this.#client, this.#head, socket, rest, relayHeaders(head, this.#req.hsts), this.#answer, this.#req, target.id, this.#registry, this.#hooks);
  }

  fail(error: EdgeError): void {
    this.#client.off('close', this.#left);
    const req = this.#req;
    if (this.#relaying) {
      this.#client.destroy();
      return;
    }
    this.#answer.refuse(error);
    this.#hooks.failed(error, error.status, this.#sending?.target?.id ?? null, req.info);
  }
}

function splice(client: Duplex, head: Buffer, upstream: Socket, upHead: Buffer, headers: readonly string[], answer: UpgradeAnswer,
  req: TunnelRequest, target: string, registry: TunnelRegistry, hooks: TunnelHooks): void {
  upstream.on('error', destroySelf);
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  const boundary = new FrameBoundary();
  const tunnel: Tunnel = { client, upstream, target, start: performance.now(), boundary, info: req.info };
  const remove = registry.add(tunnel);
  let closed = false;
  // The socket may have carried keep-alive requests before: count the tunnel's bytes only.
  const written = upstream.bytesWritten;
  const read = upstream.bytesRead - upHead.length;
  const close = (): void => {
    if (closed) return;
    closed = true;
    remove();
    client.destroy();
    upstream.destroy();
    hooks.closed(tunnel, upstream.bytesWritten - written, upstream.bytesRead - read);
  };
  client.on('close', close);
  upstream.on('close', close);
  client.on('error', close);
  upstream.on('error', close);
  // Every byte either way passes through the client socket, so its inactivity timer alone is
  // the tunnel's idle timer (one timer per tunnel, refreshed once per relayed chunk).
  (client as Socket).setTimeout(req.idleTimeout, close);
  (client as Socket).setNoDelay?.(true);
  upstream.setNoDelay(true);
  answer.accept(headers);
  if (upHead.length > 0) {
    boundary.feed(upHead);
    client.write(upHead);
  }
  if (head.length > 0) upstream.write(head);
  relay(upstream, client, boundary);
  relay(client, upstream, undefined);
  client.resume();
  hooks.opened(tunnel);
}

/**
 * Bytes one way with backpressure and end propagation: what pipe() does, with three small
 * listeners instead of pipe's nine closures per direction (idle tunnels are counted in
 * thousands). Upstream→client bytes also feed the frame-boundary tracker.
 */
function relay(from: Duplex, to: Duplex, boundary: FrameBoundary | undefined): void {
  from.on('data', (chunk: Buffer) => {
    boundary?.feed(chunk);
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}

/** A listener that holds no closure context (see pipeline/upgrade.ts). */
function destroySelf(this: Duplex): void {
  this.destroy();
}

/** The upstream's end-to-end headers (extensions, subprotocol, cookies…) plus the edge's HSTS, as raw pairs; a 101 (and so h2's 200 to CONNECT, RFC 9110 §8.6) never has a Content-Length. */
function relayHeaders(res: ResponseHead, hsts: string | null): string[] {
  return responseHeaders(res.headers, res.connectionTokens, hsts, false, res.status);
}

function headerText(pairs: readonly string[]): string {
  let out = '';
  for (let i = 0; i < pairs.length; i += 2) out += `${pairs[i] as string}: ${pairs[i + 1] as string}\r\n`;
  return out;
}
