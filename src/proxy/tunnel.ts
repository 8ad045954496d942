import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { classify } from './forward.js';
import { EdgeError, isConnectFailure } from '../errors.js';
import { responseHeaders } from '../pipeline/hop-by-hop.js';
import { tokensOf } from '../upstream/response-parser.js';
import { respondRaw } from '../pipeline/respond.js';
import type { TargetState, Upstream } from '../upstream/pool.js';
import { FrameBoundary, CLOSE_GOING_AWAY } from './frames.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

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

  get size(): number {
    return this.#open.size;
  }

  add(tunnel: Tunnel): () => void {
    this.#open.add(tunnel);
    return () => this.#open.delete(tunnel);
  }

  /** Resolves when every tunnel has closed by itself. */
  async idle(): Promise<void> {
    while (this.#open.size > 0) await new Promise((r) => setTimeout(r, 50));
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

export interface TunnelRequest {
  readonly upstream: Upstream;
  readonly key: string;
  readonly hsts: string;
  readonly connectTimeout: number;
  readonly responseTimeout: number;
  readonly idleTimeout: number;
  /** Request headers already filtered and carrying the forwarded set. */
  readonly headers: Record<string, string | string[] | undefined>;
  readonly path: string;
  readonly wsKey: string;
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
  /** Gatehouse's own refusal (502, 504…), then the client is closed. */
  refuse(status: number, body: string): void;
  /** The upstream's answer when it was not a 101; its body is piped after this, then the client ends. */
  relay(status: number, reason: string, headers: readonly string[]): void;
  /** The tunnel opens: the upstream's end-to-end headers and HSTS. */
  accept(headers: readonly string[]): void;
}

/** The HTTP/1.1 answer on an upgraded socket. */
function h1Answer(client: Duplex, hsts: string): UpgradeAnswer {
  return {
    refuse: (status, body) => respondRaw(client, status, hsts, body),
    relay: (status, reason, headers) => {
      client.write(`HTTP/1.1 ${status} ${reason.replace(/[\r\n]/g, '')}\r\n${headerText(headers)}Connection: close\r\n\r\n`, 'latin1');
    },
    accept: (headers) => {
      client.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n${headerText(headers)}\r\n`, 'latin1');
    },
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
  targetDown(target: TargetState, error: unknown): void;
}

function expectedAccept(key: string): string {
  return createHash('sha1').update(key + WS_GUID).digest('base64');
}

/**
 * Dial the client's ranked targets until one answers the handshake, verify its 101 (status,
 * Upgrade, Sec-WebSocket-Accept) before any byte flows, then pipe both ways. Client bytes sent
 * after its handshake stay buffered in the paused client socket until that moment.
 */
export function openTunnel(client: Duplex, head: Buffer, req: TunnelRequest, registry: TunnelRegistry, hooks: TunnelHooks): void {
  client.pause();
  const answer = req.answer ?? h1Answer(client, req.hsts);
  const tried = new Set<TargetState>();
  const attempt = (): void => {
    const target = req.upstream.choose(req.key, Date.now(), tried);
    if (target === undefined) {
      const error = new EdgeError('EDGE_ERR_NO_HEALTHY_TARGET', `no healthy target in upstream ${req.upstream.name}`);
      answer.refuse(error.status, 'no upstream available');
      hooks.failed(error, error.status, null, req.info);
      return;
    }
    const headers = { ...req.headers, connection: 'Upgrade', upgrade: 'websocket' };
    const send = target.config.protocol === 'https:' ? httpsRequest : httpRequest;
    const upReq = send({
      host: target.config.host, port: target.config.port, method: 'GET', path: req.path, headers,
      agent: false, setHost: false, ...target.tls,
    });
    let timer = setTimeout(() => upReq.destroy(Object.assign(new Error('connect timeout'), { code: 'EEDGE_CONNECT_TIMEOUT' })), req.connectTimeout);
    upReq.once('socket', (s: Socket) => s.once('connect', () => {
      clearTimeout(timer);
      timer = setTimeout(() => upReq.destroy(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', 'no handshake answer in time')), req.responseTimeout);
    }));
    const closeEarly = (): void => { upReq.destroy(); };
    client.once('close', closeEarly);
    upReq.on('error', (err) => {
      clearTimeout(timer);
      client.off('close', closeEarly);
      if (client.destroyed) return;
      if (req.upstream.recordFailure(target, Date.now())) hooks.targetDown(target, err);
      if (isConnectFailure(err)) {
        tried.add(target);
        attempt();
        return;
      }
      const error = classify(err);
      answer.refuse(error.status, 'upstream failed');
      hooks.failed(error, error.status, target.id, req.info);
    });
    upReq.on('response', (res: IncomingMessage) => {
      // Not a 101: the upstream refused the upgrade (404, 426, 401…). Relay its answer and close.
      clearTimeout(timer);
      client.off('close', closeEarly);
      target.recordSuccess();
      answer.relay(res.statusCode ?? 502, res.statusMessage ?? '', relayHeaders(res, req.hsts));
      res.pipe(client);
      res.on('error', () => client.destroy());
      hooks.failed(new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', `upstream answered the upgrade with ${res.statusCode ?? '?'}`), res.statusCode ?? 0, target.id, req.info);
    });
    upReq.on('upgrade', (res: IncomingMessage, upstream: Socket, upHead: Buffer) => {
      clearTimeout(timer);
      client.off('close', closeEarly);
      upstream.on('error', destroySelf);
      const accept = res.headers['sec-websocket-accept'];
      const upgrade = res.headers.upgrade;
      if (res.statusCode !== 101 || typeof upgrade !== 'string' || upgrade.toLowerCase() !== 'websocket' || accept !== expectedAccept(req.wsKey)) {
        // An unverified 101 would let the upstream (or whoever answered) turn this into a raw
        // tunnel the client never asked for: request smuggling to internal paths.
        upstream.destroy();
        const error = new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', 'upstream 101 without a valid Sec-WebSocket-Accept');
        answer.refuse(502, 'upstream sent an invalid WebSocket handshake');
        hooks.failed(error, 502, target.id, req.info);
        return;
      }
      target.recordSuccess();
      splice(client, head, upstream, upHead, relayHeaders(res, req.hsts), answer, req, target.id, registry, hooks);
    });
    upReq.end();
  };
  attempt();
}

function splice(client: Duplex, head: Buffer, upstream: Socket, upHead: Buffer, headers: readonly string[], answer: UpgradeAnswer,
  req: TunnelRequest, target: string, registry: TunnelRegistry, hooks: TunnelHooks): void {
  if (client.destroyed) {
    upstream.destroy();
    return;
  }
  const boundary = new FrameBoundary();
  const tunnel: Tunnel = { client, upstream, target, start: performance.now(), boundary, info: req.info };
  const remove = registry.add(tunnel);
  let closed = false;
  const close = (): void => {
    if (closed) return;
    closed = true;
    remove();
    client.destroy();
    upstream.destroy();
    hooks.closed(tunnel, upstream.bytesWritten, upstream.bytesRead);
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

/** The upstream's end-to-end headers (extensions, subprotocol, cookies…) plus the edge's HSTS, as raw pairs. */
function relayHeaders(res: IncomingMessage, hsts: string): string[] {
  const connection = res.headers.connection;
  return responseHeaders(res.rawHeaders, tokensOf(typeof connection === 'string' ? connection : ''), hsts, false);
}

/** Pairs as latin1 header lines: Node decoded them a byte per character, so they go out written as 'latin1'. */
function headerText(pairs: readonly string[]): string {
  let out = '';
  for (let i = 0; i < pairs.length; i += 2) out += `${pairs[i] as string}: ${pairs[i + 1] as string}\r\n`;
  return out;
}
