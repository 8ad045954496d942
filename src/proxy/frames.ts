/** A server→client close frame, status 1001 "going away" (RFC 6455 §5.5.1, §7.4.1); unmasked as servers send. */
export const CLOSE_GOING_AWAY = Buffer.from([0x88, 0x02, 0x03, 0xe9]);

/**
 * Follows RFC 6455 §5.2 frame headers in a byte stream without buffering payloads, so the
 * edge knows when the stream sits between frames — the only place a frame of its own (the
 * 1001 close at shutdown) can be inserted without corrupting what the upstream is sending.
 */
export class FrameBoundary {
  #header = Buffer.alloc(14);
  #have = 0;
  #remaining = 0;
  /** Set once the stream stops looking like WebSocket framing; then nothing is ever injected. */
  #lost = false;

  atBoundary(): boolean {
    return !this.#lost && this.#have === 0 && this.#remaining === 0;
  }

  feed(chunk: Buffer): void {
    let i = 0;
    while (i < chunk.length && !this.#lost) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - i);
        this.#remaining -= take;
        i += take;
        continue;
      }
      this.#header[this.#have++] = chunk[i++] as number;
      const need = this.#headerLength();
      if (need === undefined || this.#have < need) continue;
      const length = this.#payloadLength();
      this.#have = 0;
      if (length === undefined) this.#lost = true;
      else this.#remaining = length;
    }
  }

  #headerLength(): number | undefined {
    if (this.#have < 2) return undefined;
    const b1 = this.#header[1] as number;
    const len = b1 & 0x7f;
    const mask = b1 & 0x80 ? 4 : 0;
    return 2 + (len === 126 ? 2 : len === 127 ? 8 : 0) + mask;
  }

  #payloadLength(): number | undefined {
    const len = (this.#header[1] as number) & 0x7f;
    if (len < 126) return len;
    if (len === 126) return this.#header.readUInt16BE(2);
    const big = this.#header.readBigUInt64BE(2);
    return big > BigInt(Number.MAX_SAFE_INTEGER) ? undefined : Number(big);
  }
}
