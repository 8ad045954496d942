import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TargetConfig } from '../config/types.js';
import type { TargetTlsOptions } from './target-tls.js';

/** Whoever is using a pooled connection right now (one request at a time, no pipelining). */
export interface ConnectionUser {
  /** TCP (and for https targets, TLS) is up. */
  onConnect(): void;
  onData(chunk: Buffer): void;
  /** The upstream closed its side. */
  onEnd(): void;
  onError(err: Error): void;
  /** The socket is gone; always the last call. */
  onClose(): void;
}

/**
 * One upstream socket. Its listeners are attached once, at open, and dispatch to the current
 * user, so carrying a request costs no listener churn. Idle, it belongs to its pool: bytes or
 * a close from the upstream then just retire it.
 */
export class UpstreamConnection {
  readonly socket: Socket;
  readonly #pool: ConnectionPool;
  user: ConnectionUser | undefined;
  /** Requests carried before the current one (> 0: the upstream may have closed it meanwhile). */
  uses = 0;
  /** Date.now() when it was last put back, for the idle sweep. */
  idleSince = 0;

  constructor(socket: Socket, pool: ConnectionPool, secure: boolean) {
    this.socket = socket;
    this.#pool = pool;
    socket.setNoDelay(true);
    socket.once(secure ? 'secureConnect' : 'connect', () => this.user?.onConnect());
    socket.on('data', (chunk: Buffer) => {
      if (this.user === undefined) socket.destroy(); // unsolicited bytes on an idle connection
      else this.user.onData(chunk);
    });
    socket.on('end', () => this.user?.onEnd());
    socket.on('error', (err: Error) => this.user?.onError(err));
    socket.on('close', () => {
      this.#pool.forget(this);
      const user = this.user;
      this.user = undefined;
      user?.onClose();
    });
  }
}

/**
 * Keep-alive connections to one target: LIFO reuse (the warmest socket first), at most
 * `maxIdle` kept, idle ones closed after `idleTimeout` ms. Active connections are not capped,
 * as with Node's default agent: concurrency is bounded by the clients'.
 */
export class ConnectionPool {
  readonly #target: TargetConfig;
  readonly #tls: TargetTlsOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #maxIdle: number;
  readonly #idleTimeout: number;
  readonly #sweep: NodeJS.Timeout;
  /** Connections opened over the pool's life (reuse shows as this staying flat). */
  opened = 0;

  constructor(target: TargetConfig, tls: TargetTlsOptions = {}, maxIdle = 256, idleTimeout = 60_000) {
    this.#target = target;
    this.#tls = tls;
    this.#maxIdle = maxIdle;
    this.#idleTimeout = idleTimeout;
    this.#sweep = setInterval(() => this.#closeIdle(Date.now()), Math.min(idleTimeout, 5_000)).unref();
  }

  /** An idle connection if there is one, else a new one (already connecting). */
  acquire(user: ConnectionUser): UpstreamConnection {
    let conn = this.#idle.pop();
    // A socket the upstream just closed can still be listed until its 'close' event runs.
    while (conn !== undefined && !conn.socket.writable) {
      conn.socket.destroy();
      conn = this.#idle.pop();
    }
    conn ??= this.#open();
    conn.user = user;
    return conn;
  }

  /** Put a connection whose last response completed cleanly back for the next request. */
  release(conn: UpstreamConnection): void {
    conn.user = undefined;
    conn.uses++;
    if (conn.socket.destroyed || this.#idle.length >= this.#maxIdle) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = Date.now();
    this.#idle.push(conn);
  }

  forget(conn: UpstreamConnection): void {
    const i = this.#idle.indexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  get idle(): number {
    return this.#idle.length;
  }

  destroy(): void {
    clearInterval(this.#sweep);
    for (const conn of this.#idle.splice(0)) conn.socket.destroy();
  }

  #open(): UpstreamConnection {
    this.opened++;
    const { protocol, host, port } = this.#target;
    const secure = protocol === 'https:';
    const socket = secure
      ? tlsConnect({ host, port, ALPNProtocols: ['http/1.1'], ...this.#tls })
      : netConnect({ host, port });
    return new UpstreamConnection(socket, this, secure);
  }

  #closeIdle(now: number): void {
    // Oldest first: the LIFO stack keeps them at the bottom.
    while (this.#idle.length > 0 && now - (this.#idle[0] as UpstreamConnection).idleSince >= this.#idleTimeout) {
      (this.#idle.shift() as UpstreamConnection).socket.destroy();
    }
  }
}
