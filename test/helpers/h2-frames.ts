import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { testCerts } from './certs.js';

type Tap = { teardown(fn: () => unknown): void };

/** RFC 9113 §6 frame types and the error codes tests look for (§7). */
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const ERROR = { NO_ERROR: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2, REFUSED_STREAM: 7, CANCEL: 8, ENHANCE_YOUR_CALM: 11 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export interface Frame {
  readonly type: number;
  readonly flags: number;
  readonly stream: number;
  readonly payload: Buffer;
}

/** One frame: 9-byte header (RFC 9113 §4.1) and payload. */
export function frame(type: number, flags: number, stream: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK string literal without Huffman (RFC 7541 §5.2), length as a 7-bit-prefix integer. */
function literal(text: string | Buffer): Buffer {
  const bytes = typeof text === 'string' ? Buffer.from(text, 'latin1') : text;
  return Buffer.concat([integer(bytes.length, 7, 0x00), bytes]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix; `high` holds the bits above the prefix. */
export function integer(value: number, prefix: number, high: number): Buffer {
  const max = (1 << prefix) - 1;
  if (value < max) return Buffer.from([high | value]);
  const out = [high | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A literal field without indexing, new name (RFC 7541 §6.2.2). */
export function field(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x00]), literal(name), literal(value)]);
}

/** A literal field WITH incremental indexing, new name (§6.2.1): it enters the dynamic table at index 62. */
export function indexedField(name: string, value: string | Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x40]), literal(name), literal(value)]);
}

/** A reference to table entry `index` (§6.1). */
export function ref(index: number): Buffer {
  return integer(index, 7, 0x80);
}

/** GET / on https for localhost: static-table :method GET (2), :scheme https (7), :path / (4), then :authority. */
export function getBlock(extra: Buffer[] = []): Buffer {
  return Buffer.concat([ref(2), ref(7), ref(4), field(':authority', 'localhost'), ...extra]);
}

export function headers(stream: number, block: Buffer, { endStream = true, endHeaders = true } = {}): Buffer {
  return frame(FRAME.HEADERS, (endStream ? END_STREAM : 0) | (endHeaders ? END_HEADERS : 0), stream, block);
}

export function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(FRAME.RST_STREAM, 0, stream, payload);
}

export function settings(entries: readonly [number, number][] = []): Buffer {
  const payload = Buffer.alloc(entries.length * 6);
  entries.forEach(([id, value], i) => { payload.writeUInt16BE(id, i * 6); payload.writeUInt32BE(value, i * 6 + 2); });
  return frame(FRAME.SETTINGS, 0, 0, payload);
}

const SETTINGS_ACK = frame(FRAME.SETTINGS, 0x1, 0);

export function ping(data = Buffer.alloc(8)): Buffer {
  return frame(FRAME.PING, 0, 0, data);
}

/** A raw h2 client: TLS with ALPN h2 only, the preface and an empty SETTINGS sent, every server frame parsed. */
export class RawH2 {
  readonly socket: TLSSocket;
  readonly frames: Frame[] = [];
  closed = false;
  #buffer = Buffer.alloc(0);

  private constructor(socket: TLSSocket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => this.#parse(chunk));
    socket.on('close', () => { this.closed = true; });
    socket.on('error', () => undefined);
  }

  /**
   * `tableSize0`: see responseFields. `ack: false` never acknowledges the server's SETTINGS: nghttp2 applies its own advertised
   * settings only once they are acknowledged (RFC 9113 §6.5.3), so such a client is held to none.
   */
  static async open(t: Tap, port: number, { ack = true, tableSize0 = false } = {}): Promise<RawH2> {
    const certs = await testCerts();
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['h2'] });
    const raw = new RawH2(socket);
    t.teardown(() => socket.destroy());
    await new Promise<void>((resolve, reject) => { socket.once('secureConnect', () => resolve()); socket.once('error', reject); });
    if (socket.alpnProtocol !== 'h2') throw new Error(`ALPN chose ${String(socket.alpnProtocol)}`);
    // SETTINGS_HEADER_TABLE_SIZE 0 (RFC 7541 §4.2): the server's HPACK may not index, so its
    // answers decode with the static table alone (responseFields).
    socket.write(Buffer.concat([PREFACE, settings(tableSize0 ? [[0x1, 0]] : [])]));
    await raw.until((f) => f.type === FRAME.SETTINGS && (f.flags & 1) === 0, 'server SETTINGS');
    if (ack) socket.write(SETTINGS_ACK);
    return raw;
  }

  write(data: Buffer): boolean {
    return this.socket.write(data);
  }

  /** The first frame matching `pred`, waiting up to `ms`; throws saying what it waited for. */
  async until(pred: (f: Frame) => boolean, what: string, ms = 5000): Promise<Frame> {
    for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 20))) {
      const found = this.frames.find(pred);
      if (found !== undefined) return found;
      if (this.closed) break;
    }
    const found = this.frames.find(pred);
    if (found !== undefined) return found;
    throw new Error(`no ${what} (closed: ${this.closed}, frames: ${this.frames.map((f) => f.type).join(',')})`);
  }

  /** The GOAWAY's error code, waiting for it. */
  async goaway(ms = 5000): Promise<number> {
    const f = await this.until((x) => x.type === FRAME.GOAWAY, 'GOAWAY', ms);
    return f.payload.readUInt32BE(4);
  }

  #parse(chunk: Buffer): void {
    this.#buffer = Buffer.concat([this.#buffer, chunk]);
    while (this.#buffer.length >= 9) {
      const length = this.#buffer.readUIntBE(0, 3);
      if (this.#buffer.length < 9 + length) return;
      this.frames.push({
        type: this.#buffer[3] as number, flags: this.#buffer[4] as number,
        stream: this.#buffer.readUInt32BE(5) & 0x7fffffff, payload: this.#buffer.subarray(9, 9 + length),
      });
      this.#buffer = this.#buffer.subarray(9 + length);
    }
  }
}

/** RFC 7541 Appendix A, the static table: [name, value]. */
const STATIC: readonly (readonly [string, string])[] = [
  [':authority', ''], [':method', 'GET'], [':method', 'POST'], [':path', '/'], [':path', '/index.html'], [':scheme', 'http'], [':scheme', 'https'],
  [':status', '200'], [':status', '204'], [':status', '206'], [':status', '304'], [':status', '400'], [':status', '404'], [':status', '500'],
  ...['accept-charset', 'accept-encoding', 'accept-language', 'accept-ranges', 'accept', 'access-control-allow-origin', 'age', 'allow',
    'authorization', 'cache-control', 'content-disposition', 'content-encoding', 'content-language', 'content-length', 'content-location',
    'content-range', 'content-type', 'cookie', 'date', 'etag', 'expect', 'expires', 'from', 'host', 'if-match', 'if-modified-since',
    'if-none-match', 'if-range', 'if-unmodified-since', 'last-modified', 'link', 'location', 'max-forwards', 'proxy-authenticate',
    'proxy-authorization', 'range', 'referer', 'refresh', 'retry-after', 'server', 'set-cookie', 'strict-transport-security',
    'transfer-encoding', 'user-agent', 'vary', 'via', 'www-authenticate'].map((name) => [name, ''] as const),
];

/** RFC 7541 §5.1, reading: [value, next offset]. */
function readInteger(buf: Buffer, at: number, prefix: number): [number, number] {
  const max = (1 << prefix) - 1;
  let value = (buf[at] as number) & max;
  let i = at + 1;
  if (value < max) return [value, i];
  for (let shift = 0; ; shift += 7) {
    const byte = buf[i++] as number;
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, i];
  }
}

/** Huffman-coded digits (RFC 7541 Appendix B: '0'-'2' in 5 bits, '3'-'9' in 6): enough for a status; other text comes back as "<huffman>". */
function huffmanDigits(bytes: Buffer): string {
  const bits = Array.from(bytes, (b) => b.toString(2).padStart(8, '0')).join('');
  let out = '';
  for (let i = 0; i + 5 <= bits.length;) {
    const five = parseInt(bits.slice(i, i + 5), 2);
    if (five <= 2) { out += String(five); i += 5; continue; }
    const six = parseInt(bits.slice(i, i + 6), 2);
    if (six >= 25 && six <= 31 && i + 6 <= bits.length) { out += String(six - 22); i += 6; continue; }
    if (/^1*$/.test(bits.slice(i))) return out; // EOS padding
    return '<huffman>';
  }
  return out;
}

function readString(buf: Buffer, at: number): [string, number] {
  const huffman = ((buf[at] as number) & 0x80) !== 0;
  const [length, start] = readInteger(buf, at, 7);
  const bytes = buf.subarray(start, start + length);
  return [huffman ? huffmanDigits(bytes) : bytes.toString('latin1'), start + length];
}

/**
 * The fields of a server HEADERS block on a connection opened with `tableSize0` (so no dynamic
 * table is in play): name → value, a Huffman-coded value other than digits shown as "<huffman>".
 */
export function responseFields(block: Buffer): Map<string, string> {
  const fields = new Map<string, string>();
  for (let i = 0; i < block.length;) {
    const byte = block[i] as number;
    if ((byte & 0xe0) === 0x20) { i = readInteger(block, i, 5)[1]; continue; } // table size update
    if ((byte & 0x80) !== 0) {
      const [index, next] = readInteger(block, i, 7);
      const entry = STATIC[index - 1];
      if (entry === undefined) throw new Error(`dynamic table index ${index}: open the connection with tableSize0`);
      fields.set(entry[0], entry[1]);
      i = next;
      continue;
    }
    const [index, afterIndex] = readInteger(block, i, (byte & 0x40) !== 0 ? 6 : 4);
    let name: string;
    let at = afterIndex;
    if (index === 0) [name, at] = readString(block, afterIndex);
    else name = STATIC[index - 1]?.[0] ?? `<index ${index}>`;
    const [value, next] = readString(block, at);
    fields.set(name, value);
    i = next;
  }
  return fields;
}
