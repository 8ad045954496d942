import type { ServerHttp2Session } from 'node:http2';

/**
 * RFC 9113 §6.5.2 (SETTINGS_MAX_HEADER_LIST_SIZE): a field list's size is the octets of every
 * name and value plus 32 per field — the decoded size, whatever HPACK made of it on the wire.
 * Node hands h2 fields over as one-byte strings, so `length` is the octet count; a pair costs 32,
 * that is 16 for each of its two strings.
 */
export function headerListSize(raw: readonly string[]): number {
  let size = 0;
  for (const text of raw) size += text.length + 16;
  return size;
}

/** What the head watch knows of one session; the front door updates it from its own events. */
export interface HeadState {
  /** The client's SETTINGS (its preface) arrived. */
  greeted: boolean;
  /** The highest stream id whose complete header block reached JS. */
  lastStream: number;
  /** What was found unfinished at the last sweep (-1: the preface; a stream id: its header block; 0: nothing). */
  pending: number;
  /** When that was first seen (ms). */
  pendingSince: number;
}

/**
 * Slowloris on h2: a HEADERS frame without END_HEADERS, then silence (or a trickle), holds a
 * connection that Node's session timer never ends, since the block opens no stream JS can see.
 * nghttp2 counts the block's stream as processed the moment its HEADERS frame arrives
 * (`lastProcStreamID`), so a session whose processed id runs ahead of the last complete header
 * block the front door received is in the middle of one. One sweep for every session (as Node's
 * `connectionsCheckingInterval` does for HTTP/1.1) ends a session whose head — its preface, or
 * one header block — stays unfinished for `timeouts.headers`. A stream Node refused before JS
 * saw it (an oversized block after the client acknowledged our SETTINGS, a malformed one) looks
 * the same: that connection is then closed at `timeouts.headers` unless another request follows,
 * which only shortens its idle time. Streams refused for `maxConcurrentStreams` and PRIORITY
 * frames do not move `lastProcStreamID`. Each sweep costs ~1 µs per session (`session.state`).
 */
export class HeadWatch {
  readonly #sessions: ReadonlyMap<ServerHttp2Session, HeadState>;
  readonly #expired: (session: ServerHttp2Session) => void;
  #limitMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(sessions: ReadonlyMap<ServerHttp2Session, HeadState>, limitMs: number, expired: (session: ServerHttp2Session) => void) {
    this.#sessions = sessions;
    this.#limitMs = limitMs;
    this.#expired = expired;
  }

  /** A new limit for the sweeps to come (reload); the timer period follows it. */
  set limitMs(ms: number) {
    this.#limitMs = ms;
    this.stop();
    this.start();
  }

  /**
   * Sweep at a quarter of the limit, between 100 ms and 1 s (the period the :443 listener gives
   * Node's HTTP/1.1 sweep): a head is cut between `timeouts.headers` and that plus two periods.
   */
  start(): void {
    if (this.#timer !== undefined || this.#sessions.size === 0) return;
    const period = Math.max(100, Math.min(1000, Math.floor(this.#limitMs / 4)));
    this.#timer = setInterval(() => this.#sweep(), period).unref();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    if (this.#sessions.size === 0) return this.stop();
    const now = Date.now();
    for (const [session, head] of this.#sessions) {
      if (session.destroyed) continue;
      const pending = head.greeted ? unfinishedBlock(session, head.lastStream) : -1;
      if (pending !== head.pending) {
        head.pending = pending;
        head.pendingSince = now;
      } else if (pending !== 0 && now - head.pendingSince >= this.#limitMs) {
        this.#expired(session);
      }
    }
  }
}

/** The stream whose header block is still arriving, or 0. */
function unfinishedBlock(session: ServerHttp2Session, lastStream: number): number {
  const processed = session.state.lastProcStreamID ?? 0;
  return processed > lastStream ? processed : 0;
}
