import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { EdgeError } from '../errors.js';
import { responseHeaders } from '../pipeline/hop-by-hop.js';
import { respondRaw } from '../pipeline/respond.js';
import type { UpstreamClient, UpstreamRequest, UpstreamSink } from '../upstream/attempt.js';
import type { TargetState } from '../upstream/pool.js';
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
  readonly hsts: string;
  readonly idleTimeout: number;
  readonly info: TunnelInfo;
}

/** What logs say about a tunnel. */
export interface TunnelInfo {
  readonly host: string;
  readonly path: string;
  readonly clientIp: string;
  readonly origin: string | null;
}

export interface TunnelHooks {
  opened(tunnel: Tunnel): void;
  closed(tunnel: Tunnel, bytesIn: number, bytesOut: number): void;
  /** The handshake failed before a tunnel existed; the client was answered with `status`. */
  failed(error: EdgeError, status: number, target: string | null, info: TunnelInfo): void;
}

/**
 * Send the client's handshake through the one attempt path; only a checked 101 opens a tunnel
 * (the attempt path checks it). Client bytes sent after its handshake stay buffered in the
 * paused client socket until then.
 */
export function openTunnel(upstreams: UpstreamClient, client: Duplex, head: Buffer, req: TunnelRequest, registry: TunnelRegistry, hooks: TunnelHooks): void {
  upstreams.send(req, new UpgradeExchange(client, head, req, registry, hooks));
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
  #relaying = false;

  constructor(client: Duplex, head: Buffer, req: TunnelRequest, registry: TunnelRegistry, hooks: TunnelHooks) {
    this.#client = client;
    this.#head = head;
    this.#req = req;
    this.#registry = registry;
    this.#hooks = hooks;
    client.pause();
    client.once('close', this.#left);
  }

  readonly #left = (): void => this.#req.call?.abort();

  readonly #drained = (): void => this.#req.call?.resume();

  gone(): boolean {
    return this.#client.destroyed;
  }

  head(head: ResponseHead): void {
    this.#relaying = true;
    const req = this.#req;
    this.#client.write(statusLine(head.status, head.reason) + relayHeaders(head, req.hsts) + 'Connection: close\r\n\r\n', 'latin1');
    this.#hooks.failed(new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', `upstream answered the upgrade with ${head.status}`), head.status, req.target?.id ?? null, req.info);
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
    splice(this.#client, this.#head, socket, rest, head, this.#req, target.id, this.#registry, this.#hooks);
  }

  fail(error: EdgeError): void {
    this.#client.off('close', this.#left);
    const req = this.#req;
    if (this.#relaying) {
      this.#client.destroy();
      return;
    }
    respondRaw(this.#client, error.status, req.hsts, error.text);
    this.#hooks.failed(error, error.status, req.target?.id ?? null, req.info);
  }
}

function splice(client: Duplex, head: Buffer, upstream: Socket, upHead: Buffer, res: ResponseHead, req: TunnelRequest,
  target: string, registry: TunnelRegistry, hooks: TunnelHooks): void {
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
  client.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${relayHeaders(res, req.hsts)}\r\n`, 'latin1');
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

function statusLine(status: number, reason: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\n`; // the parser refused CR, LF and controls in it
}

/**
 * The upstream's end-to-end headers (extensions, subprotocol, cookies…) plus the edge's HSTS,
 * as latin1 text: the parser read them a byte per character, so they go out written as 'latin1'.
 */
function relayHeaders(res: ResponseHead, hsts: string): string {
  const pairs = responseHeaders(res.headers, res.connectionTokens, hsts, false);
  let out = '';
  for (let i = 0; i < pairs.length; i += 2) out += `${pairs[i] as string}: ${pairs[i + 1] as string}\r\n`;
  return out;
}
