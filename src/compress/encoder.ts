import * as zlib from 'node:zlib';
import type { Transform } from 'node:stream';
import type { Coding } from './negotiate.js';

/** Levels for answers made on the fly: zlib's default 6 for gzip (nginx users set 5–6), brotli 4 and zstd 3 (fast, and still smaller than gzip 6). */
export const LEVELS = { gzip: 6, br: 4, zstd: 3 } as const;

/** How long a started but idle stream may hold compressed bytes back before they are flushed. */
const FLUSH_AFTER_MS = 20;

type ZstdFactory = (options: { params: Record<number, number> }) => Transform;

function transformFor(coding: Coding, sizeHint: number | undefined): Transform {
  if (coding === 'gzip') return zlib.createGzip({ level: LEVELS.gzip });
  if (coding === 'br') {
    const params: Record<number, number> = { [zlib.constants.BROTLI_PARAM_QUALITY]: LEVELS.br };
    if (sizeHint !== undefined) params[zlib.constants.BROTLI_PARAM_SIZE_HINT] = sizeHint;
    return zlib.createBrotliCompress({ params });
  }
  const z = zlib as unknown as { createZstdCompress: ZstdFactory; constants: Record<string, number> };
  const level = z.constants.ZSTD_c_compressionLevel;
  return z.createZstdCompress({ params: level === undefined ? {} : { [level]: LEVELS.zstd } });
}

/** Where an encoder's output goes: an h1 ServerResponse or an H2Response, both with write/end/drain. */
export interface Sink {
  write(chunk: Buffer): boolean;
  end(): void;
  once(event: 'drain', listener: () => void): unknown;
}

/**
 * One answer's compressor: `write` takes the body (false = stop reading until `resume` is
 * called), output goes to `sink` with its own backpressure. A body that pauses (a slow
 * upstream, a long poll) is flushed FLUSH_AFTER_MS after its last chunk, by one timer
 * refreshed in place, so nothing the client should see sits in zlib's window.
 */
export class Encoder {
  readonly #z: Transform;
  readonly #sink: Sink;
  #timer: NodeJS.Timeout | undefined;
  /** Compressed bytes handed to the sink. */
  bytes = 0;

  constructor(coding: Coding, sink: Sink, sizeHint?: number) {
    this.#z = transformFor(coding, sizeHint);
    this.#sink = sink;
    this.#z.on('data', (chunk: Buffer) => {
      this.bytes += chunk.length;
      if (!this.#sink.write(chunk)) {
        this.#z.pause();
        this.#sink.once('drain', () => this.#z.resume());
      }
    });
    this.#z.on('end', () => this.#sink.end());
    this.#z.on('error', () => this.destroy());
  }

  /** false: zlib's input buffer is full; `onDrain` runs once it has room. */
  write(chunk: Buffer, onDrain: () => void): boolean {
    if (this.#timer === undefined) this.#timer = setTimeout(this.#flush, FLUSH_AFTER_MS).unref();
    else this.#timer.refresh();
    if (this.#z.write(chunk)) return true;
    this.#z.once('drain', onDrain);
    return false;
  }

  end(tail?: Buffer): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    if (tail !== undefined && tail.length > 0) this.#z.end(tail);
    else this.#z.end();
  }

  /** The client left or the source failed: free zlib's memory now. */
  destroy(): void {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#z.destroy();
  }

  readonly #flush = (): void => {
    if (!this.#z.destroyed && !this.#z.writableEnded) (this.#z as unknown as { flush(): void }).flush();
  };
}
