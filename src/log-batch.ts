import type { DestinationStream } from 'pino';

/** The part of pino's destination (sonic-boom) a batch writes through. */
interface Sink extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  flushSync(): void;
}

/**
 * A batch is handed on before it would pass this many characters: for ASCII lines one write(2)
 * of at most PIPE_BUF bytes, which POSIX makes atomic on a pipe, so workers sharing stdout
 * (`workers`) never interleave inside a line. The sink gets the same cap (`maxWrite`).
 */
export const BATCH_CHARS = 4096;
/** …or this long after its first line, whichever comes first: what `tail -f` may lag by. */
const MAX_DELAY_MS = 50;

/**
 * Log lines gathered into one write per batch. Unbatched, every line of a lightly loaded edge
 * is its own thread-pool write (sonic-boom writes at once when nothing is in flight): a wake-up
 * of a libuv worker, the write(2), and a completion back on the event loop, per request. Here
 * the timer is armed only while lines wait, so an idle edge does not wake. Nothing is lost on
 * a clean stop: `flush()` (the edge's close, an uncaught exception) hands the batch on, and
 * the process's `exit` writes what is left synchronously, whatever order exit handlers run in.
 * A SIGKILL loses at most the last MAX_DELAY_MS of lines.
 */
export class LineBatch implements DestinationStream {
  readonly #sink: Sink;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

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
    // Unref'd: a batch never keeps a stopping process alive; `exit` writes it.
    this.#timer ??= setTimeout(this.#onTimer, MAX_DELAY_MS).unref();
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

  readonly #onTimer = (): void => {
    this.#timer = undefined;
    this.#handOn();
  };

  #handOn(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (this.#pending === '') return;
    const lines = this.#pending;
    this.#pending = '';
    this.#sink.write(lines);
  }
}
