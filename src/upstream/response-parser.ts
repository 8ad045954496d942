/**
 * A streaming HTTP/1.x response parser for upstream connections (RFC 9112). It replaces Node's
 * ClientRequest + IncomingMessage on the hot path: one object per pooled connection, reset per
 * request, no streams, raw header pairs handed over as-is. Framing follows RFC 9112 §6.3 in
 * order: no body for HEAD, 1xx, 204 and 304; `chunked` when it is the only transfer coding (any
 * other coding is refused, as nginx does: relaying it decoded would hand the client bytes still
 * gzipped under headers that no longer say so); Content-Length; otherwise until close.
 * A 101 is an event of its own (`onUpgrade`) when the request asked for one, as in undici.
 * Anything ambiguous (Transfer-Encoding with Content-Length, differing lengths, obs-fold,
 * bad tokens) is an error: a proxy must not guess where a response ends.
 */

import { LF, ParseError, field, headEnd, significant } from './message-syntax.js';
import { HeadReader } from './response-head.js';

export interface ResponseHead {
  readonly status: number;
  readonly reason: string;
  /** Flat [name, value, name, value, …] exactly as received (names keep their case). */
  readonly headers: string[];
  /** The response said `Connection: close` (or was HTTP/1.0 without keep-alive). */
  readonly close: boolean;
  /** Names the response's Connection header lists, lower-cased (hop-by-hop for this message). */
  readonly connectionTokens: readonly string[];
}

export interface ResponseEvents {
  /** Final (non-1xx) response head. */
  onHead(head: ResponseHead): void;
  onBody(chunk: Buffer): void;
  /**
   * The message is complete; `reusable` is false when the connection cannot carry another one.
   * `tail` is the body's last piece when it arrived with the end (so it can go out with it).
   */
  onComplete(reusable: boolean, tail: Buffer | undefined): void;
  /** A 101 to a request that asked to upgrade; `rest` is what followed the head (the new protocol's first bytes). */
  onUpgrade(head: ResponseHead, rest: Buffer): void;
}

const enum State { Head, Length, ChunkSize, ChunkData, ChunkDataEnd, Trailers, UntilClose, Done, Upgraded }

const MAX_CHUNK_LINE = 1024;
// chunk-size [ chunk-ext ] (RFC 9112 §7.1, §7.1.1): hex digits, then `;name` or `;name=value`
// (a token or a quoted-string), with BWS around `;` and `=`. Nothing else: a space before the
// size, a bare CR or a NUL inside an extension is where parsers disagree about where a chunk
// ends (the chunk-extension smuggling class), so it is refused, as llhttp does.
const CHUNK_HEADER = /^([0-9a-fA-F]+)(?:[ \t]*;[ \t]*[!#$%&'*+\-.^_`|~0-9A-Za-z]+(?:[ \t]*=[ \t]*(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+|"(?:[\t \x21\x23-\x5b\x5d-\x7e\x80-\xff]|\\[\t \x21-\x7e\x80-\xff])*"))?)*$/;

export class ResponseParser {
  readonly #events: ResponseEvents;
  readonly #maxHeaderSize: number;
  readonly #reader = new HeadReader();
  #state = State.Done;
  #noBody = false;
  #upgrade = false;
  /** Some byte of an answer (an interim 1xx included) arrived for the current request. */
  #received = false;
  #pending: Buffer | undefined;
  #remaining = 0;
  #close = false;
  /** Bytes that arrived after the message ended (the connection is not reusable). */
  #extra = false;

  constructor(events: ResponseEvents, maxHeaderSize: number) {
    this.#events = events;
    this.#maxHeaderSize = maxHeaderSize;
  }

  /** Start reading the response to a new request (`noBody`: it was a HEAD request; `upgrade`: it asked to switch protocols). */
  reset(noBody: boolean, upgrade = false): void {
    this.#state = State.Head;
    this.#noBody = noBody;
    this.#upgrade = upgrade;
    this.#received = false;
    this.#pending = undefined;
    this.#remaining = 0;
    this.#close = false;
    this.#extra = false;
  }

  /** True until the first byte of an answer has been seen (a 1xx counts: RFC 9110 §9.2.2 retries stop there). */
  get untouched(): boolean {
    return !this.#received;
  }

  /** Feed bytes from the socket; throws ParseError on a malformed response. */
  execute(chunk: Buffer): void {
    let data = chunk;
    if (data.length > 0) this.#received = true;
    while (data.length > 0) {
      switch (this.#state) {
        case State.Head: {
          const rest = this.#head(data);
          if (rest === undefined) return;
          data = rest;
          break;
        }
        case State.Length: {
          if (data.length < this.#remaining) {
            this.#remaining -= data.length;
            this.#events.onBody(data);
            return;
          }
          // The usual keep-alive read ends exactly with the body: no views to cut then.
          const extra = data.length > this.#remaining;
          const tail = extra ? data.subarray(0, this.#remaining) : data;
          this.#remaining = 0;
          this.#complete(extra, tail);
          return;
        }
        case State.UntilClose:
          this.#events.onBody(data);
          return;
        case State.ChunkSize:
        case State.ChunkDataEnd:
        case State.Trailers: {
          const rest = this.#chunkLine(data);
          if (rest === undefined) return;
          data = rest;
          break;
        }
        case State.ChunkData: {
          if (data.length <= this.#remaining) {
            this.#remaining -= data.length;
            this.#events.onBody(data);
            if (this.#remaining === 0) this.#state = State.ChunkDataEnd;
            return;
          }
          this.#events.onBody(data.subarray(0, this.#remaining));
          data = data.subarray(this.#remaining);
          this.#remaining = 0;
          this.#state = State.ChunkDataEnd;
          break;
        }
        case State.Done:
          this.#extra = true;
          return;
        case State.Upgraded:
          return; // the connection's new owner reads the socket from now on
      }
    }
  }

  /** The upstream closed its side: completes a read-until-close body, otherwise an error. */
  finish(): void {
    if (this.#state === State.UntilClose) {
      this.#state = State.Done;
      this.#events.onComplete(false, undefined);
      return;
    }
    if (this.#state === State.Done) return;
    throw new ParseError('HPE_INCOMPLETE', this.untouched ? 'upstream closed the connection before responding' : 'upstream closed the connection mid-response');
  }

  #append(data: Buffer): Buffer {
    const pending = this.#pending;
    return pending === undefined ? data : Buffer.concat([pending, data]);
  }

  /** Accumulate until the blank line; returns the bytes after the head, or undefined to wait. */
  #head(data: Buffer): Buffer | undefined {
    const buffer = this.#append(data);
    const end = headEnd(buffer, this.#pending === undefined ? 0 : Math.max(0, this.#pending.length - 3));
    if (end === -1) {
      if (buffer.length > this.#maxHeaderSize) throw new ParseError('HPE_HEADER_OVERFLOW', `upstream response head larger than ${this.#maxHeaderSize} bytes`);
      this.#pending = buffer;
      return undefined;
    }
    this.#pending = undefined;
    if (end > this.#maxHeaderSize) throw new ParseError('HPE_HEADER_OVERFLOW', `upstream response head larger than ${this.#maxHeaderSize} bytes`);
    const rest = buffer.subarray(end);
    const head = this.#parseHead(buffer, end);
    if (head === undefined) return rest; // an interim 1xx: read the next head
    if (this.#state === State.Upgraded) {
      this.#events.onUpgrade(head, rest);
      return undefined;
    }
    this.#events.onHead(head);
    if (this.#state === State.Done) this.#complete(rest.length > 0);
    else if (this.#state === State.Length && this.#remaining === 0) this.#complete(rest.length > 0);
    else return rest;
    return undefined;
  }

  #parseHead(buffer: Buffer, end: number): ResponseHead | undefined {
    const reader = this.#reader;
    reader.read(buffer, end, buffer.toString('latin1', 0, end));
    const { status, reason, headers, length, transferEncoding, connectionTokens } = reader;
    if (status >= 100 && status < 200) {
      if (status !== 101) return undefined; // 100 Continue, 102, 103 Early Hints: not passed on (as nginx)
      if (!this.#upgrade) throw new ParseError('HPE_UNEXPECTED_UPGRADE', 'upstream switched protocols on a plain request');
      this.#state = State.Upgraded;
      return { status, reason, headers, close: false, connectionTokens };
    }

    this.#close = reader.minor === 0 ? !connectionTokens.includes('keep-alive') : connectionTokens.includes('close');

    if (this.#noBody || status === 204 || status === 304) {
      this.#state = State.Done;
    } else if (transferEncoding !== undefined) {
      if (length !== -1) throw new ParseError('HPE_UNEXPECTED_CONTENT_LENGTH', 'upstream sent both Transfer-Encoding and Content-Length');
      // RFC 9112 §6.1 allows more codings before chunked, but a proxy that does not decode them
      // cannot relay them honestly (the headers would lie about the bytes): 502, as nginx.
      if (transferEncoding.toLowerCase() !== 'chunked') throw new ParseError('HPE_INVALID_TRANSFER_ENCODING', `upstream sent Transfer-Encoding: ${transferEncoding}, not chunked alone`);
      this.#state = State.ChunkSize;
    } else if (length !== -1) {
      this.#state = State.Length;
      this.#remaining = length;
    } else {
      this.#state = State.UntilClose;
      this.#close = true;
    }
    return { status, reason, headers, close: this.#close, connectionTokens };
  }

  /** Chunk-size lines, the CRLF after chunk data, and the trailer section. */
  #chunkLine(data: Buffer): Buffer | undefined {
    const buffer = this.#append(data);
    const lf = buffer.indexOf(LF, this.#pending === undefined ? 0 : this.#pending.length);
    if (lf === -1) {
      if (buffer.length > (this.#state === State.Trailers ? this.#maxHeaderSize : MAX_CHUNK_LINE)) {
        throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'upstream sent an overlong chunk line');
      }
      this.#pending = buffer;
      return undefined;
    }
    this.#pending = undefined;
    // Chunked framing lines end in CRLF (RFC 9112 §7.1): the bare-LF leniency of §2.2 covers
    // the head only, and a lone LF here is read differently by different parsers.
    if (buffer[lf - 1] !== 0x0d) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'upstream ended a chunk line with a bare LF');
    const line = buffer.toString('latin1', 0, lf - 1);
    const rest = buffer.subarray(lf + 1);
    if (this.#state === State.ChunkDataEnd) {
      if (line !== '') throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'upstream chunk data longer than its size');
      this.#state = State.ChunkSize;
      return rest;
    }
    if (this.#state === State.Trailers) {
      // Trailer fields are dropped (as Node's pipe and nginx do); the empty line ends the message.
      if (line === '') {
        this.#complete(rest.length > 0);
        return undefined;
      }
      // Still checked like head fields (RFC 9112 §7.1.2): a line that is not a field means the
      // chunk framing before it was read differently from how the upstream meant it.
      field(line);
      return rest;
    }
    const hex = significant(CHUNK_HEADER.exec(line)?.[1]);
    // 13 hex digits (under 2^52) keep the count exact in a double; leading zeros do not count.
    if (hex === undefined || hex.length > 13) throw new ParseError('HPE_INVALID_CHUNK_SIZE', 'upstream sent an invalid chunk size');
    const size = parseInt(hex, 16);
    if (size === 0) {
      this.#state = State.Trailers;
    } else {
      this.#state = State.ChunkData;
      this.#remaining = size;
    }
    return rest;
  }

  /** `extra`: bytes followed the message's end (so the connection cannot be reused). */
  #complete(extra: boolean, tail?: Buffer): void {
    this.#state = State.Done;
    if (extra) this.#extra = true;
    this.#events.onComplete(!this.#close && !this.#extra, tail);
  }
}
