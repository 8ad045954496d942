import { randomBytes } from 'node:crypto';

/** A masked client text frame (RFC 6455 §5.2), payload under 126 bytes. */
export function clientText(text: string): Buffer {
  const payload = Buffer.from(text);
  if (payload.length > 125) throw new Error('short frames only');
  const mask = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (mask[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), mask, masked]);
}

/** Unmasked server frames, short payloads only: [opcode, payload][]. */
export function serverFrames(bytes: Buffer): [number, Buffer][] {
  const out: [number, Buffer][] = [];
  let at = 0;
  while (at + 2 <= bytes.length) {
    const len = (bytes[at + 1] as number) & 0x7f;
    if (len > 125 || at + 2 + len > bytes.length) break;
    out.push([(bytes[at] as number) & 0x0f, bytes.subarray(at + 2, at + 2 + len)]);
    at += 2 + len;
  }
  return out;
}
