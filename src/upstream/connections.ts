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
  /** The deadline set with UpstreamConnection.arm() passed (the user decides what it meant, if anything). */
  timedOut(): void;
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
  /**
   * The current user's one deadline. It lives with the connection, so a request on a reused
   * connection refreshes it in place instead of creating, inserting and clearing a Timeout of its
   * own; a deadline left armed by a finished user fires into whoever holds the connection then,
   * whose own state says it is not waiting. Unref'd: while a user waits, its socket keeps the
   * process alive.
   */
  #timer: NodeJS.Timeout | undefined;
  #timerMs = 0;

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

  /** Call the user's timedOut() `ms` from now (a refresh when the duration is the one armed last). */
  arm(ms: number): void {
    if (this.#timer !== undefined && this.#timerMs === ms) {
      this.#timer.refresh();
      return;
    }
    clearTimeout(this.#timer);
    this.#timerMs = ms;
    this.#timer = setTimeout(this.#onTimer, ms).unref();
  }

  readonly #onTimer = (): void => this.user?.timedOut();

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

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
    this.#disarm();
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
    this.#disarm();
    socket.off(this.#connectEvent, this.#onConnect);
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('error', this.#onError);
    socket.off('close', this.#onClose);
    this.#pool.forget(this);
    return socket;
  }
}

/** How a pool keeps connections (`upstreams.NAME.keepalive` / `keepaliveTimeout`). */
export interface KeepAlive {
  /** Idle connections kept at most; 0: none, every request gets its own connection, closed after it. */
  readonly max: number;
  /** ms an idle connection is kept. */
  readonly timeout: number;
}

/**
 * Keep-alive connections to one target: LIFO reuse (the warmest socket first), at most
 * `keepAlive.max` kept, idle ones closed `keepAlive.timeout` ms after they were put back. Active
 * connections are not capped, as with Node's default agent: concurrency is bounded by the
 * clients' (one request in flight per client connection). Once closed (its target retired by a
 * reload), every connection still carrying a request is closed as that work ends instead of
 * coming back.
 *
 * The idle timeout must end before the backend's own (Node's http.Server: 5 s): a connection the
 * backend closes while a request is on its way fails that request, and a POST is not retried.
 * So the one sweep timer is armed for the moment the oldest idle connection expires, not on a
 * coarse interval: the LIFO stack keeps the oldest at the bottom, and putting a connection back
 * costs one check that the timer is armed.
 */
export class ConnectionPool {
  readonly #target: TargetConfig;
  readonly #tls: TargetTlsOptions;
  readonly #idle: UpstreamConnection[] = [];
  #keepAlive: KeepAlive;
  #sweep: NodeJS.Timeout | undefined;
  #closed = false;
  /** Connections opened over the pool's life (reuse shows as this staying flat). */
  opened = 0;

  constructor(target: TargetConfig, tls: TargetTlsOptions, keepAlive: KeepAlive) {
    this.#target = target;
    this.#tls = tls;
    this.#keepAlive = keepAlive;
  }

  /** False when connections are never reused (keepalive 0): requests then ask the upstream to close (`Connection: close`). */
  get reuses(): boolean {
    return this.#keepAlive.max > 0;
  }

  get keepAlive(): KeepAlive {
    return this.#keepAlive;
  }

  /**
   * New settings from a reload, applied to this live pool (its connections are as good as new
   * ones): idle connections beyond the new cap close now, oldest first, and the sweep is re-armed
   * for the new timeout.
   */
  configure(keepAlive: KeepAlive): void {
    if (keepAlive.max === this.#keepAlive.max && keepAlive.timeout === this.#keepAlive.timeout) return;
    this.#keepAlive = keepAlive;
    while (this.#idle.length > keepAlive.max) (this.#idle.shift() as UpstreamConnection).socket.destroy();
    clearTimeout(this.#sweep);
    this.#arm();
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
    if (this.#closed || conn.socket.destroyed || this.#idle.length >= this.#keepAlive.max) {
      conn.socket.destroy();
      return;
    }
    conn.idleSince = Date.now();
    this.#idle.push(conn);
    if (this.#sweep === undefined) this.#arm();
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
    clearTimeout(this.#sweep);
    this.#sweep = undefined;
    for (const conn of this.#idle.splice(0)) conn.socket.destroy();
  }

  #open(): UpstreamConnection {
    this.opened++;
    const { protocol, host, port, socketPath } = this.#target;
    const secure = protocol === 'https:';
    const socket = secure
      ? tlsConnect({ host, port, ALPNProtocols: ['http/1.1'], ...this.#tls })
      : socketPath === undefined ? netConnect({ host, port }) : netConnect({ path: socketPath });
    return new UpstreamConnection(socket, this, secure);
  }

  /** Arm the sweep for when the oldest idle connection expires (none idle: unarmed until one is put back). */
  #arm(): void {
    const oldest = this.#idle[0];
    this.#sweep = oldest === undefined || this.#closed ? undefined
      : setTimeout(this.#closeExpired, Math.max(0, oldest.idleSince + this.#keepAlive.timeout - Date.now())).unref();
  }

  /** The sweep timer fired: close every expired connection (oldest first, from the bottom), then re-arm. */
  readonly #closeExpired = (): void => {
    const now = Date.now();
    const timeout = this.#keepAlive.timeout;
    while (this.#idle.length > 0 && now - (this.#idle[0] as UpstreamConnection).idleSince >= timeout) {
      (this.#idle.shift() as UpstreamConnection).socket.destroy();
    }
    this.#arm();
  };
}
