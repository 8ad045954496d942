import type { IncomingHttpHeaders, OutgoingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { TLSSocket } from 'node:tls';
import type { FileHandle } from 'node:fs/promises';

/**
 * An h2 request as the pipeline reads it, over Node's core stream API: the few names it used
 * from the compatibility API's Http2ServerRequest, without that layer's per-stream Readable,
 * socket Proxy and listeners. The request body is the stream itself (bodyOf in message.ts).
 */
export class H2Request {
  readonly stream: ServerHttp2Stream;
  /** Every field, pseudo-header fields included; Node joined split Cookie fields with "; " (RFC 9113 §8.2.3). */
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  /** The TLS connection the session runs on (the socket itself, not session.socket's Proxy: listeners/h2.ts). */
  readonly socket: TLSSocket;
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;

  constructor(stream: ServerHttp2Stream, headers: IncomingHttpHeaders, rawHeaders: readonly string[], socket: TLSSocket) {
    this.stream = stream;
    this.headers = headers;
    this.rawHeaders = rawHeaders;
    this.socket = socket;
  }

  get method(): string {
    return this.headers[':method'] ?? '';
  }

  get url(): string {
    return this.headers[':path'] ?? '';
  }
}

type FieldValue = string | number | readonly string[];

/** What H2Response holds once its stream closed: a listener given to whenClosed later is never called. */
function spent(): void {}

/**
 * The response half: status and fields go out in one HEADERS frame via stream.respond(), then
 * DATA. Unlike the compatibility API it never asks for trailers (waitForTrailers), which cost an
 * extra round per response, and never writes a body on a stream Node already ended (HEAD, 204,
 * 304: RFC 9110 §9.3.2, §15.3.5, §15.4.5).
 */
export class H2Response {
  readonly stream: ServerHttp2Stream;
  statusCode = 200;
  #fields: OutgoingHttpHeaders | undefined;
  /** The exchange's close handling, run from the front door's own 'close' listener (streamClosed). */
  #onClose: (() => void) | undefined;

  constructor(stream: ServerHttp2Stream) {
    this.stream = stream;
  }

  get headersSent(): boolean {
    return this.stream.headersSent;
  }

  get writableFinished(): boolean {
    return this.stream.writableFinished;
  }

  /** A field for the coming HEADERS; names are lower-case already (h2 requires it, RFC 9113 §8.2.1). */
  setHeader(name: string, value: FieldValue): void {
    (this.#fields ??= {})[name] = value as OutgoingHttpHeaders[string];
  }

  getHeader(name: string): number | string | readonly string[] | undefined {
    return this.#fields?.[name];
  }

  removeHeader(name: string): void {
    if (this.#fields !== undefined) delete this.#fields[name];
  }

  /** HEADERS now; fields set before are kept unless `fields` names them too. */
  writeHead(status: number, fields: OutgoingHttpHeaders = {}, endStream = false): void {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    this.statusCode = status;
    const all = this.#fields === undefined ? fields : Object.assign(this.#fields, fields);
    all[':status'] = status;
    stream.respond(all, { endStream });
  }

  /**
   * HEADERS, then `length` bytes of the file from `offset` as DATA read by nghttp2 itself (no
   * JS buffers); the caller closes the handle when the stream closes.
   */
  respondWithFD(status: number, fields: OutgoingHttpHeaders, handle: FileHandle | number, offset: number, length: number): void {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    this.statusCode = status;
    const all = this.#fields === undefined ? fields : Object.assign(this.#fields, fields);
    all[':status'] = status;
    stream.respondWithFD(handle, all, { offset, length });
  }

  /** RFC 9110 §15.2.1: an interim 100 on the stream, before the final HEADERS. */
  writeContinue(): void {
    if (!this.stream.headersSent && !this.stream.destroyed) this.stream.additionalHeaders({ ':status': 100 });
  }

  write(chunk: Buffer): boolean {
    if (!this.stream.headersSent) this.writeHead(this.statusCode);
    return this.stream.writableEnded || this.stream.write(chunk);
  }

  /** The last of the body (if any); `finished` runs once the stream's writable side is done. */
  end(chunk?: Buffer | string, finished?: () => void): void {
    const stream = this.stream;
    const body = chunk !== undefined && chunk.length > 0 && !stream.writableEnded ? chunk : undefined;
    if (!stream.headersSent) this.writeHead(this.statusCode, undefined, body === undefined);
    if (finished !== undefined) {
      if (stream.writableFinished || stream.destroyed) process.nextTick(finished);
      else stream.once('finish', finished);
    }
    if (!stream.writableEnded) stream.end(body);
  }

  destroy(): void {
    this.stream.destroy();
  }

  /**
   * `listener` when the stream closes. The first one is called by the front door's 'close'
   * listener of this stream (listeners/h2.ts), after its own counting: one listener per stream,
   * not two (each costs Node an addListener, and two make every emit copy its listener array).
   * Any later one is the stream's own. Like a listener added after 'close' was emitted, it is
   * never called once the stream closed.
   */
  whenClosed(listener: () => void): void {
    if (this.#onClose === undefined) this.#onClose = listener;
    else this.stream.once('close', listener);
  }

  /** The front door's 'close' listener: the stream closed. */
  streamClosed(): void {
    const listener = this.#onClose;
    if (listener === undefined) return;
    this.#onClose = spent;
    listener();
  }

  once(event: 'close' | 'drain', listener: () => void): this {
    this.stream.once(event, listener);
    return this;
  }
}
