import { EdgeError } from '../errors.js';
import type { UpstreamRequest, UpstreamSink } from './request.js';
import type { ConnectionUser, UpstreamConnection } from './connections.js';
import { handshakeProblem } from './handshake.js';
import { requestHead } from './request-head.js';
import type { TargetState } from './targets.js';
import type { ResponseHead } from './response-parser.js';

const LAST_CHUNK = '0\r\n\r\n';

/** What an UpstreamAttempt is waiting for: its one timer's meaning (cf. nginx proxy_connect/send/read_timeout, client_body_timeout). */
const enum Wait { None, Connect, ClientBody, UpstreamDrain, Head, Body, ClientDrain }

/** Who decides what a failed attempt means (upstream/client.ts's Sending: retry, blame, answer). */
export interface AttemptOwner {
  failed(attempt: UpstreamAttempt, err: unknown): void;
  /** The attempt is over without a failure (answered, upgraded, aborted). */
  ended(attempt: UpstreamAttempt): void;
}

/**
 * One attempt at one target: writes the request on a pooled connection, lets the connection's
 * parser read the answer and hands it to the sink with backpressure both ways, then gives the
 * connection back (or closes it when it cannot carry another request). One deadline, the
 * connection's, refreshed in place, whose meaning is the `Wait` it was armed for.
 */
export class UpstreamAttempt implements ConnectionUser {
  readonly request: UpstreamRequest;
  readonly sink: UpstreamSink;
  readonly target: TargetState;
  readonly reused: boolean;
  readonly #owner: AttemptOwner;
  readonly #conn: UpstreamConnection;
  /** What the connection's deadline (UpstreamConnection.arm) means while this attempt holds it, and its length. */
  #wait = Wait.None;
  #timerMs = 0;
  /** The client's body has begun to flow upstream (it waits for the connection). */
  bodyStarted = false;
  /** The sink was given the answer's head: from here on a failure can only end what started. */
  answered = false;
  #bodySent: boolean;
  #finished = false;
  #paused = false;

  constructor(owner: AttemptOwner, request: UpstreamRequest, sink: UpstreamSink, target: TargetState) {
    this.#owner = owner;
    this.request = request;
    this.sink = sink;
    this.target = target;
    this.#bodySent = request.body === 'none';
    const conn = target.pool.acquire(this);
    this.#conn = conn;
    conn.parser.reset(request.method === 'HEAD', request.upgradeKey !== undefined);
    this.reused = conn.uses > 0;
    const socket = conn.socket;
    const connecting = socket.connecting || socket.pending;
    if (connecting) this.#expect(Wait.Connect, request.connectTimeout);
    else if (this.#bodySent) this.#expect(Wait.Head, request.responseTimeout);
    // latin1: Node decoded the client's header bytes one byte per character; this writes them
    // back byte for byte (UTF-8 would double-encode anything above 0x7f).
    socket.write(requestHead(request, target.pool.reuses), 'latin1');
    if (!connecting) this.#sendBody();
  }

  /** True until a byte of an answer (a 1xx included) arrived. */
  get untouched(): boolean {
    return this.#conn.parser.untouched;
  }

  onConnect(): void {
    if (this.#bodySent) this.#expect(Wait.Head, this.request.responseTimeout);
    else this.#sendBody();
  }

  onError(err: unknown): void {
    this.#fail(err);
  }

  onClose(): void {
    if (!this.#finished) this.#fail(Object.assign(new Error('upstream connection closed'), { code: 'ECONNRESET' }));
  }

  onHead(head: ResponseHead): void {
    if (this.#finished) return;
    // From here the upstream may pause at most responseTimeout between body reads.
    this.#expect(Wait.Body, this.request.responseTimeout);
    this.target.recordSuccess();
    this.answered = true;
    try {
      this.sink.head(head);
    } catch (err) {
      // Node refused a header value as it wrote the head: nothing went out to the client.
      this.answered = false;
      this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_PROTOCOL', `upstream sent a header the client cannot be given: ${(err as Error).message}`, err));
    }
  }

  onBody(chunk: Buffer): void {
    if (this.#finished) return;
    if (!this.sink.body(chunk) && !this.#paused) {
      // The client is the slow one now: its clock runs, not the upstream's (nginx's send_timeout).
      this.#paused = true;
      this.#expect(Wait.ClientDrain, this.request.bodyTimeout);
      this.#conn.socket.pause();
    } else if (!this.#paused) {
      this.#conn.arm(this.#timerMs);
    }
  }

  onComplete(reusable: boolean, tail: Buffer | undefined): void {
    if (!this.#end()) return;
    if (this.#paused) this.resume();
    this.sink.end(tail);
    const conn = this.#conn;
    // Second wall against handshake smuggling: a connection that answered an upgrade with
    // anything but a checked 101 is not trusted with another request, whatever it announced.
    if (reusable && this.#bodySent && conn.user === this && this.request.upgradeKey === undefined) this.target.pool.release(conn);
    else this.#close();
  }

  onUpgrade(head: ResponseHead, rest: Buffer): void {
    if (this.#finished) return;
    const key = this.request.upgradeKey;
    const wrong = key === undefined ? 'a 101 nobody asked for' : handshakeProblem(head, key);
    if (wrong !== undefined) {
      // An unverified 101 would let the upstream (or whoever answered) turn this into a raw
      // tunnel the client never asked for: request smuggling to internal paths.
      this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_HANDSHAKE', `upstream 101 with ${wrong}`));
      return;
    }
    this.#end();
    this.target.recordSuccess();
    this.answered = true;
    this.sink.upgrade(this.#conn.detach(), head, rest, this.target);
  }

  /** The sink drained after asking for backpressure: let the upstream's bytes flow again. */
  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#finished) this.#expect(Wait.Body, this.request.responseTimeout);
    this.#conn.socket.resume();
  }

  /** The client went away: drop the upstream connection (it may be mid-response). */
  abort(): void {
    if (this.#end()) this.#close();
  }

  /** The attempt is over without a failure: timer stopped, its owner told. False when it already was over. */
  #end(): boolean {
    if (this.#finished) return false;
    this.#finished = true;
    this.#stopTimer();
    this.#owner.ended(this);
    return true;
  }

  #close(): void {
    const conn = this.#conn;
    if (conn.user === this) conn.user = undefined;
    conn.socket.destroy();
    // The upstream stopped taking the body (it answered early, or failed): read and drop the
    // rest, or a request paused for backpressure would stall the client's connection. A body
    // not yet started is left alone: the next attempt sends it, or Node drops it after the 502.
    if (this.bodyStarted && !this.#bodySent) this.sink.source?.resume();
  }

  #fail(err: unknown): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#stopTimer();
    this.#close();
    this.#owner.failed(this, err);
  }

  /** Wait for `wait` at most `ms`, on the connection's one deadline. */
  #expect(wait: Wait, ms: number): void {
    this.#wait = wait;
    this.#timerMs = ms;
    this.#conn.arm(ms);
  }

  /** Not waiting any more: the deadline may still fire, and then finds Wait.None. */
  #stopTimer(): void {
    this.#wait = Wait.None;
  }

  /** The deadline passed: what we were waiting for decides whose fault it is. */
  timedOut(): void {
    const ms = this.#timerMs;
    switch (this.#wait) {
      case Wait.Connect:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_CONNECT_TIMEOUT', `upstream connect took longer than ${ms} ms`));
        break;
      case Wait.ClientBody:
        this.#fail(new EdgeError('EDGE_ERR_REQUEST_TIMEOUT', `the client sent no request body for ${ms} ms`));
        break;
      case Wait.UpstreamDrain:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `upstream took no request body for ${ms} ms`));
        break;
      case Wait.Head:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `no response headers within ${ms} ms of the request`));
        break;
      case Wait.Body:
        this.#fail(new EdgeError('EDGE_ERR_UPSTREAM_TIMEOUT', `upstream sent nothing for ${ms} ms mid-response`));
        break;
      case Wait.ClientDrain:
        this.#fail(new EdgeError('EDGE_ERR_REQUEST_TIMEOUT', `the client read nothing for ${ms} ms`));
        break;
      case Wait.None:
        break;
    }
  }

  /** Stream the client's body upstream; chunked bodies are re-framed (Node decoded them). */
  #sendBody(): void {
    const source = this.sink.source;
    if (this.#bodySent || this.bodyStarted || source === undefined) return;
    this.bodyStarted = true;
    const { request } = this;
    const socket = this.#conn.socket;
    const chunked = request.body === 'chunked';
    // Until the whole body is sent, the clocks are the client's pauses and the upstream's intake;
    // the wait for the response head starts after the last byte (a long upload is not a slow upstream).
    const waiting = (): boolean => !this.answered && !this.#finished;
    this.#expect(Wait.ClientBody, request.bodyTimeout);
    source.on('data', (chunk: Buffer) => {
      // A zero-size chunk is the last-chunk (RFC 9112 §7.1): an empty piece of the body is not written.
      if (this.#finished || chunk.length === 0) return;
      let ok: boolean;
      if (chunked) {
        socket.cork();
        socket.write(`${chunk.length.toString(16)}\r\n`);
        socket.write(chunk);
        ok = socket.write('\r\n');
        socket.uncork();
      } else {
        ok = socket.write(chunk);
      }
      if (!ok) {
        source.pause();
        if (waiting()) this.#expect(Wait.UpstreamDrain, request.responseTimeout);
        socket.once('drain', () => {
          if (waiting()) this.#expect(Wait.ClientBody, request.bodyTimeout);
          source.resume();
        });
      } else if (waiting()) {
        this.#conn.arm(this.#timerMs);
      }
    });
    const ended = (): void => {
      if (this.#finished) return;
      if (chunked) socket.write(LAST_CHUNK);
      this.#bodySent = true;
      if (waiting()) this.#expect(Wait.Head, request.responseTimeout);
    };
    // An h2 body that ended with nothing buffered (HEADERS, then only an empty DATA with
    // END_STREAM, RFC 9113 §6.1) emitted 'end' already, unread: Node's stream code reads 0 at
    // EOF. That happens while this attempt waited for its connection, so 'end' will not come again.
    if (source.readableEnded) ended();
    else source.once('end', ended);
    source.resume(); // the pipeline may have paused it (see withinBodyLimit)
  }
}
