import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Coding } from './negotiate.js';

/** Levels for answers made on the fly: zlib's default 6 for gzip (nginx users set 5–6), brotli 4 and zstd 3 (fast, and still smaller than gzip 6). */
export const LEVELS = { gzip: 6, br: 4, zstd: 3 } as const;

/** How long a started but idle stream may hold compressed bytes back before they are flushed. */
const FLUSH_AFTER_MS = 20;

/**
 * A body whose length is known and at most this is held whole and compressed in one call
 * (README "Compression"; bench/RESULTS.md, "Serving files faster"). Bigger or unknown bodies
 * stream through zlib's thread pool, so the event loop is never held long.
 */
export const ONE_SHOT = 64 * 1024;

type ZstdFactory = (options: { params: Readonly<Record<number, number>> }) => Transform;
interface ZstdZlib {
  createZstdCompress: ZstdFactory;
  zstdCompressSync(input: Buffer, options: { params: Readonly<Record<number, number>> }): Buffer;
  constants: Record<string, number>;
}

function brotliParams(sizeHint: number | undefined): Record<number, number> {
  const params: Record<number, number> = { [zlib.constants.BROTLI_PARAM_QUALITY]: LEVELS.br };
  if (sizeHint !== undefined) params[zlib.constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
  return params;
}

/** zstd's level, as its parameter table wants it: the same for every answer, so made once. */
const ZSTD_PARAMS: Readonly<Record<number, number>> = (() => {
  const level = (zlib as unknown as ZstdZlib).constants.ZSTD_c_compressionLevel;
  return Object.freeze(level === undefined ? {} : { [level]: LEVELS.zstd });
})();

function transformFor(coding: Coding, sizeHint: number | undefined): Transform {
  if (coding === 'gzip') return zlib.createGzip({ level: LEVELS.gzip });
  if (coding === 'br') return zlib.createBrotliCompress({ params: brotliParams(sizeHint) });
  return (zlib as unknown as ZstdZlib).createZstdCompress({ params: ZSTD_PARAMS });
}

/**
 * The whole body at once, on this thread, as nginx does: a thread-pool zlib job costs ~1.5–2×
 * the CPU of the same deflate run inline (hand-off, wake-ups, a cold window on another core),
 * and a body ≤ ONE_SHOT holds the event loop well under a millisecond at these levels.
 */
function compressOnce(coding: Coding, input: Buffer): Buffer {
  if (coding === 'gzip') return zlib.gzipSync(input, { level: LEVELS.gzip });
  if (coding === 'br') return zlib.brotliCompressSync(input, { params: brotliParams(input.length) });
  return (zlib as unknown as ZstdZlib).zstdCompressSync(input, { params: ZSTD_PARAMS });
}

/** Where an encoder's output goes: an h1 ServerResponse or an H2Response, both with write/end/drain. */
export interface Sink {
  write(chunk: Buffer): boolean;
  end(chunk?: Buffer): void;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * One answer's compressor: `write` takes the body (false = stop reading until `resume` is
 * called), output goes to `sink` with its own backpressure. A body of known `length` ≤ ONE_SHOT
 * is held and compressed once at its end; any other streams through zlib. A body that pauses
 * (a slow upstream, a long poll) is flushed FLUSH_AFTER_MS after its last chunk, by one timer
 * refreshed in place, so nothing the client should see sits in zlib's window — a held body
 * that pauses starts streaming then, with what it held.
 */
export class Encoder {
  readonly #coding: Coding;
  readonly #sink: Sink;
  readonly #sizeHint: number | undefined;
  #z: Transform | undefined;
  /** The held body of a one-shot answer; undefined once streaming (or never held). */
  #held: Buffer[] | undefined;
  #heldBytes = 0;
  #destroyed = false;
  #timer: NodeJS.Timeout | undefined;
  /** Compressed bytes handed to the sink. */
  bytes = 0;

  constructor(coding: Coding, sink: Sink, length?: number) {
    this.#coding = coding;
    this.#sink = sink;
    this.#sizeHint = length;
    if (length !== undefined && length <= ONE_SHOT) this.#held = [];
    else this.#z = this.#stream();
  }

  /** false: zlib's input buffer is full; `onDrain` runs once it has room. */
  write(chunk: Buffer, onDrain: () => void): boolean {
    if (this.#timer === undefined) this.#timer = setTimeout(this.#flush, FLUSH_AFTER_MS).unref();
    else this.#timer.refresh();
    let z = this.#z;
    if (z === undefined) {
      (this.#held ??= []).push(chunk);
      this.#heldBytes += chunk.length;
      if (this.#heldBytes <= ONE_SHOT) return true;
      z = this.#streaming(); // more than declared: what was held, this chunk with it, streams
      if (!z.writableNeedDrain) return true;
    } else if (z.write(chunk)) {
      return true;
    }
    z.once('drain', onDrain);
    return false;
  }

  end(tail?: Buffer): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    const held = this.#held;
    if (held !== undefined) {
      if (tail !== undefined && tail.length > 0) held.push(tail);
      this.#held = undefined;
      let out: Buffer;
      try {
        out = compressOnce(this.#coding, held.length === 1 ? held[0] as Buffer : Buffer.concat(held));
      } catch {
        this.destroy();
        return;
      }
      this.bytes += out.length;
      this.#sink.end(out);
      return;
    }
    const z = this.#streaming();
    if (tail !== undefined && tail.length > 0) z.end(tail);
    else z.end();
  }

  /** The client left or the source failed: free zlib's memory now. */
  destroy(): void {
    this.#destroyed = true;
    this.#held = undefined;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#z?.destroy();
  }

  #stream(): Transform {
    const z = transformFor(this.#coding, this.#sizeHint);
    z.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      if (!this.#sink.write(chunk)) {
        z.pause();
        this.#sink.once('drain', () => z.resume());
      }
    });
    z.on('end', () => this.#sink.end());
    z.on('error', () => this.destroy());
    return z;
  }

  /** The zlib stream, started now with what was held when the body turned out slow or longer than declared. */
  #streaming(): Transform {
    if (this.#z !== undefined) return this.#z;
    const z = this.#stream();
    this.#z = z;
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const chunk of held) z.write(chunk);
    return z;
  }

  readonly #flush = (): void => {
    if (this.#destroyed) return;
    const z = this.#streaming();
    if (!z.destroyed && !z.writableEnded) (z as unknown as { flush(): void }).flush();
  };
}
