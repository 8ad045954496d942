import { fstatSync, writeSync } from 'node:fs';
import type { DestinationStream } from 'pino';

/** Where a batch goes: FdSink below, or a test's stream with the same calls. */
interface Sink extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
}

/**
 * A batch is handed on before it would pass this many characters: for ASCII lines one write(2)
 * of at most PIPE_BUF bytes, which POSIX makes atomic on a pipe, so workers sharing stdout
 * (`workers`) never interleave inside a line.
 */
export const BATCH_CHARS = 4096;
/** …or this long after its first line, whichever comes first: what `tail -f` may lag by. */
const MAX_DELAY_MS = 50;

/**
 * Log lines gathered into one write per batch: unbatched, every request's line would be a
 * write(2) of its own. The timer is armed only while lines wait or just after a batch went, so
 * an idle edge wakes at most once.
 * Nothing is lost on a clean stop: `flush()` (the edge's close, an uncaught exception) hands the batch on, and
 * the process's `exit` writes what is left synchronously, whatever order exit handlers run in.
 * A SIGKILL loses at most the last MAX_DELAY_MS of lines.
 */
export class LineBatch implements DestinationStream {
  readonly #sink: Sink;
  #pending = '';
  /** One timer for the life of the batcher, re-armed by refresh(): no timer made or cleared per batch. */
  #timer: NodeJS.Timeout | undefined;
  /** The timer will fire: lines (or a handed-on batch's successor) are waiting on it. */
  #armed = false;

  constructor(sink: Sink) {
    this.#sink = sink;
    process.once('exit', () => {
      // A stream pino gave up on (EPIPE: nobody reads stdout) has nowhere to write; exit anyway.
      try {
        this.flushSync();
      } catch {
        // nothing to do at exit
      }
    });
  }

  write(line: string): void {
    if (this.#pending.length + line.length > BATCH_CHARS) this.#handOn();
    this.#pending += line;
    if (this.#armed) return;
    this.#armed = true;
    // Unref'd: a batch never keeps a stopping process alive; `exit` writes it.
    if (this.#timer === undefined) this.#timer = setTimeout(this.#onTimer, MAX_DELAY_MS).unref();
    else this.#timer.refresh();
  }

  /** pino's `logger.flush(cb)`: the batch goes to the sink now; `cb` once the sink has it. */
  flush(cb?: (err?: Error) => void): void {
    this.#handOn();
    this.#sink.flush(cb);
  }

  flushSync(): void {
    this.#handOn();
    this.#sink.flushSync();
  }

  /**
   * A batch handed on for its size leaves the timer armed: it then hands on the next batch, whose
   * lines all came after it was armed, early rather than late; never a line later than MAX_DELAY_MS.
   */
  readonly #onTimer = (): void => {
    this.#armed = false;
    this.#handOn();
  };

  #handOn(): void {
    if (this.#pending === '') return;
    const lines = this.#pending;
    this.#pending = '';
    this.#sink.write(lines);
  }
}

/** How long a batch that met a full pipe waits before the next try. */
const RETRY_MS = 10;
/** At exit, how long a full pipe may keep the last lines waiting before they are given up. */
const EXIT_WAIT_MS = 5000;

/**
 * Batches written to a file descriptor (stdout) by `write(2)` on the event loop: no thread-pool
 * hop per batch (pino's asynchronous destination hands every write to a libuv worker and back:
 * a wake-up, a futex and an eventfd read per batch; measured in bench/RESULTS.md).
 *
 * - A file, /dev/null or a terminal: the write lands at once (a file into the page cache, as
 *   nginx writes its access log).
 * - A pipe or socket (a container's log driver, journald) is made non-blocking, so a reader that
 *   stalls never stalls the edge: a batch that meets a full pipe (EAGAIN) waits here, in order,
 *   and is tried again every RETRY_MS while new batches queue behind it. A batch of at most
 *   PIPE_BUF bytes goes in whole or not at all, so lines still never interleave between workers.
 * - A reader that is gone (EPIPE) or any other write error: lines are dropped from then on;
 *   the edge goes on serving (there is nowhere to say so).
 * - `flushSync` (the process's `exit`) writes what waits, retrying a full pipe for up to
 *   EXIT_WAIT_MS of no progress, then gives the rest up rather than never exiting.
 */
export class FdSink implements Sink {
  readonly #fd: number;
  /** Batches (or a batch's unwritten tail) that met a full pipe, oldest first. */
  #waiting: Buffer[] = [];
  #retry: NodeJS.Timeout | undefined;
  #flushed: ((err?: Error) => void)[] = [];
  #broken = false;

  constructor(fd: number) {
    this.#fd = fd;
    if (fd === 1) nonBlockingIfStream(fd);
  }

  write(data: string): boolean {
    if (this.#broken) return true;
    if (this.#waiting.length > 0) {
      this.#waiting.push(Buffer.from(data));
      return true;
    }
    let written: number;
    try {
      written = writeSync(this.#fd, data);
    } catch (err) {
      if (!this.#wouldBlock(err)) return true;
      written = 0;
    }
    // Bytes equal characters for ASCII; only a short or non-ASCII write needs the byte count.
    if (written !== data.length && written !== Buffer.byteLength(data)) this.#wait(Buffer.from(data).subarray(written));
    return true;
  }

  flush(cb?: (err?: Error) => void): void {
    if (cb === undefined) return;
    if (this.#waiting.length === 0) process.nextTick(cb);
    else this.#flushed.push(cb);
  }

  flushSync(): void {
    let lastProgress = Date.now();
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (this.#waiting.length > 0) {
      if (this.#writeHead()) lastProgress = Date.now();
      else if (Date.now() - lastProgress > EXIT_WAIT_MS) break;
      else Atomics.wait(pause, 0, 0, 1);
    }
    this.#waiting = [];
    this.#settle();
  }

  #wait(rest: Buffer): void {
    this.#waiting.push(rest);
    this.#retry ??= setTimeout(this.#onRetry, RETRY_MS).unref();
  }

  readonly #onRetry = (): void => {
    this.#retry = undefined;
    while (this.#waiting.length > 0 && this.#writeHead());
    if (this.#waiting.length > 0) this.#retry = setTimeout(this.#onRetry, RETRY_MS).unref();
    else this.#settle();
  };

  /** Writes the oldest waiting buffer; true when all of it went (false: the pipe is full or broken). */
  #writeHead(): boolean {
    const head = this.#waiting[0]!;
    let written: number;
    try {
      written = writeSync(this.#fd, head);
    } catch (err) {
      this.#wouldBlock(err);
      return false;
    }
    if (written < head.length) {
      this.#waiting[0] = head.subarray(written);
      return false;
    }
    this.#waiting.shift();
    return true;
  }

  /** EAGAIN: true. Anything else breaks the sink: nothing waits any more, and flush callers are told. */
  #wouldBlock(err: unknown): boolean {
    if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return true;
    this.#broken = true;
    this.#waiting = [];
    this.#settle();
    return false;
  }

  #settle(): void {
    if (this.#waiting.length > 0) return;
    if (this.#retry !== undefined) clearTimeout(this.#retry);
    this.#retry = undefined;
    const callbacks = this.#flushed;
    this.#flushed = [];
    for (const cb of callbacks) cb();
  }
}

/**
 * A pipe or socket on stdout is put in non-blocking mode: Node's own stdout stream for it (made
 * here, and never written to by this file) opens the descriptor through libuv, which sets
 * O_NONBLOCK on it, as any Node program that touches `process.stdout` does. A file or terminal
 * is left as it is.
 */
function nonBlockingIfStream(fd: number): void {
  try {
    const stat = fstatSync(fd);
    if (stat.isFIFO() || stat.isSocket()) void process.stdout.writable;
  } catch {
    // no stdout at all: writes fail and are dropped
  }
}
