import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { TargetConfig } from '../config/types.js';
import { ResponseParser, type ResponseEvents, type ResponseHead } from './response-parser.js';
import type { TargetTlsOptions } from './target-tls.js';

/** Largest upstream response head accepted (nginx's proxy_buffer_size is 4–8 KB; Node's 16 KB). */
const UPSTREAM_HEAD_LIMIT = 64 * 1024;

/** Whoever is using a pooled connection right now (one request at a time, no pipelining). */
export interface ConnectionUser extends ResponseEvents {
  /** TCP (and for https targets, TLS) is up. */
  onConnect(): void;
  /** A socket error, a malformed answer, or the upstream closing before its answer ended. */
  onError(err: unknown): void;
  /** The socket is gone; always the last call. */
  onClose(): void;
}

/**
 * One upstream socket and its one response parser (undici's shape: a parser per connection,
 * reset per request). Its listeners are attached once, at open, and dispatch to the current
 * user, so carrying a request costs no listener churn. Idle, it belongs to its pool: bytes or
 * a close from the upstream then just retire it. An upgrade detaches the socket for a tunnel.
 */
export class UpstreamConnection implements ResponseEvents {
  readonly socket: Socket;
  readonly parser: ResponseParser;
  readonly #pool: ConnectionPool;
  readonly #connectEvent: string;
  user: ConnectionUser | undefined;
  /** Requests carried before the current one (> 0: the upstream may have closed it meanwhile). */
  uses = 0;
  /** Date.now() when it was last put back, for the idle sweep. */
  idleSince = 0;

  constructor(socket: Socket, pool: ConnectionPool, secure: boolean) {
    this.socket = socket;
    this.#pool = pool;
    this.parser = new ResponseParser(this, UPSTREAM_HEAD_LIMIT);
    socket.setNoDelay(true);
    this.#connectEvent = secure ? 'secureConnect' : 'connect';
    socket.once(this.#connectEvent, this.#onConnect);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('error', this.#onError);
    socket.on('close', this.#onClose);
  }

  readonly #onConnect = (): void => this.user?.onConnect();

  readonly #onData = (chunk: Buffer): void => {
    const user = this.user;
    if (user === undefined) {
      this.socket.destroy(); // unsolicited bytes on an idle connection
      return;
    }
    try {
      this.parser.execute(chunk);
    } catch (err) {
      user.onError(err);
    }
  };

  readonly #onEnd = (): void => {
    const user = this.user;
    if (user === undefined) {
      this.socket.destroy();
      return;
    }
    try {
      this.parser.finish();
    } catch (err) {
      user.onError(err);
    }
  };

  readonly #onError = (err: Error): void => this.user?.onError(err);

  readonly #onClose = (): void => {
    this.#pool.forget(this);
    const user = this.user;
    this.user = undefined;
    user?.onClose();
  };

  onHead(head: ResponseHead): void {
    this.user?.onHead(head);
  }

  onBody(chunk: Buffer): void {
    this.user?.onBody(chunk);
  }

  onComplete(reusable: boolean, tail: Buffer | undefined): void {
    this.user?.onComplete(reusable, tail);
  }

  onUpgrade(head: ResponseHead, rest: Buffer): void {
    this.user?.onUpgrade(head, rest);
  }

  /** Hand the socket over to a tunnel: the pool and parser let go of it (the caller attaches its own listeners). */
  detach(): Socket {
    const socket = this.socket;
    this.user = undefined;
    socket.off(this.#connectEvent, this.#onConnect);
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#pool.forget(this);
    return socket;
  }
}

/**
 * Keep-alive connections to one target: LIFO reuse (the warmest socket first), at most
 * `maxIdle` kept, idle ones closed after `idleTimeout` ms. Active connections are not capped,
 * as with Node's default agent: concurrency is bounded by the clients' (one request in flight
 * per client connection). Once closed (its target retired by a reload), every connection still
 * carrying a request is closed as that work ends instead of coming back.
 */
export class ConnectionPool {
  readonly #target: TargetConfig;
  readonly #tls: TargetTlsOptions;
  readonly #idle: UpstreamConnection[] = [];
  readonly #maxIdle: number;
  readonly #idleTimeout: number;
  readonly #sweep: NodeJS.Timeout;
  #closed = false;
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
    if (this.#closed || conn.socket.destroyed || this.#idle.length >= this.#maxIdle) {
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

  /** Retire: idle connections close now, busy ones when their request ends. Idempotent. */
  close(): void {
    this.#closed = true;
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
