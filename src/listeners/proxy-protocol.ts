import { isIPv4, isIPv6 } from 'node:net';

/*
 * PROXY protocol v1 (text) and v2 (binary) headers, as HAProxy's proxy-protocol.txt defines
 * them. A pure incremental parser: bytes go in as they arrive (split anywhere), and it answers
 * once it knows — so a slow or hostile balancer can never make it buffer more than one header.
 */

/** v2's 12-byte signature (§2.2): "\r\n\r\n\0\r\nQUIT\n", chosen so no HTTP or TLS stream starts with it. */
const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_SIGNATURE = Buffer.from('PROXY ', 'latin1');
/** §2.1: "a receiver may reject an incomplete line which does not contain the CRLF sequence in the first 107 characters". */
const V1_MAX_LENGTH = 107;
const V2_FIXED = 16;
/** §2.2: address block sizes for AF_INET, AF_INET6 and AF_UNIX. */
const V2_ADDRESS_LENGTH: Readonly<Record<number, number>> = { 1: 12, 2: 36, 3: 216 };

/**
 * What a header said. `source: null` means "keep the socket's peer address": v2 LOCAL (the
 * balancer's own health check), v1 UNKNOWN, v2 UNSPEC or UNIX families.
 */
export interface ProxyHeader {
  readonly version: 1 | 2;
  readonly source: { readonly address: string; readonly port: number } | null;
}

export type ProxyParse =
  /** Not enough bytes yet to decide. */
  | { readonly kind: 'more' }
  /** The stream does not start with a PROXY signature; `buffered` is every byte seen, to replay. */
  | { readonly kind: 'none'; readonly buffered: Buffer }
  /** A complete, valid header; `rest` is what followed it in the same reads (the first TLS record, say). */
  | { readonly kind: 'header'; readonly header: ProxyHeader; readonly rest: Buffer }
  | { readonly kind: 'invalid'; readonly reason: string };

/**
 * Does `bytes` start a PROXY header? 'yes' once a whole v1 or v2 signature is there, 'no' as
 * soon as a byte rules both out (a TLS ClientHello's first byte already does), else 'maybe'.
 */
export function sniffProxy(bytes: Buffer): 'yes' | 'no' | 'maybe' {
  let possible = false;
  for (const signature of [V1_SIGNATURE, V2_SIGNATURE]) {
    const n = Math.min(bytes.length, signature.length);
    if (bytes.subarray(0, n).equals(signature.subarray(0, n))) {
      if (n === signature.length) return 'yes';
      possible = true;
    }
  }
  return possible ? 'maybe' : 'no';
}

/** One connection's header parser: feed it each chunk until it answers something other than 'more'. */
export class ProxyHeaderParser {
  #buffered: Buffer = Buffer.alloc(0);
  #answer: ProxyParse | undefined;

  push(chunk: Buffer): ProxyParse {
    if (this.#answer !== undefined) return this.#answer;
    this.#buffered = this.#buffered.length === 0 ? chunk : Buffer.concat([this.#buffered, chunk]);
    const answer = parse(this.#buffered);
    if (answer.kind !== 'more') {
      this.#answer = answer;
      this.#buffered = Buffer.alloc(0);
    }
    return answer;
  }
}

function parse(bytes: Buffer): ProxyParse {
  const sniffed = sniffProxy(bytes);
  if (sniffed === 'no') return { kind: 'none', buffered: bytes };
  if (sniffed === 'maybe') return { kind: 'more' };
  return bytes[0] === V1_SIGNATURE[0] ? parseV1(bytes) : parseV2(bytes);
}

function parseV1(bytes: Buffer): ProxyParse {
  const end = bytes.subarray(0, V1_MAX_LENGTH).indexOf('\r\n', 0, 'latin1');
  if (end === -1) {
    return bytes.length >= V1_MAX_LENGTH ? { kind: 'invalid', reason: `v1 header longer than ${V1_MAX_LENGTH} bytes` } : { kind: 'more' };
  }
  const rest = bytes.subarray(end + 2);
  const fields = bytes.subarray(0, end).toString('latin1').split(' ');
  // §2.1: "UNKNOWN" — the receiver must ignore anything after it and use the real peer address.
  if (fields[1] === 'UNKNOWN') return { kind: 'header', header: { version: 1, source: null }, rest };
  const [, family, src, dst, sport, dport, ...extra] = fields;
  if (family !== 'TCP4' && family !== 'TCP6') return { kind: 'invalid', reason: `v1 protocol "${family ?? ''}" is not TCP4, TCP6 or UNKNOWN` };
  const valid = family === 'TCP4' ? isIPv4 : isIPv6;
  if (extra.length > 0 || src === undefined || dst === undefined || !valid(src) || !valid(dst)) {
    return { kind: 'invalid', reason: `v1 ${family} header needs "PROXY ${family} SRC DST SPORT DPORT" with ${family === 'TCP4' ? 'IPv4' : 'IPv6'} addresses` };
  }
  const port = v1Port(sport);
  if (port === undefined || v1Port(dport) === undefined) return { kind: 'invalid', reason: 'v1 ports must be decimal numbers 0-65535 without leading zeros' };
  return { kind: 'header', header: { version: 1, source: { address: src, port } }, rest };
}

function v1Port(text: string | undefined): number | undefined {
  if (text === undefined || !/^(0|[1-9][0-9]{0,4})$/.test(text)) return undefined;
  const port = Number(text);
  return port <= 65535 ? port : undefined;
}

function parseV2(bytes: Buffer): ProxyParse {
  if (bytes.length < V2_FIXED) return { kind: 'more' };
  const versionCommand = bytes[12] as number;
  const familyTransport = bytes[13] as number;
  const length = bytes.readUInt16BE(14);
  if (versionCommand >> 4 !== 2) return { kind: 'invalid', reason: `v2 header with version ${versionCommand >> 4}` };
  const command = versionCommand & 0x0f;
  if (command > 1) return { kind: 'invalid', reason: `v2 header with unknown command ${command}` };
  const family = familyTransport >> 4;
  const transport = familyTransport & 0x0f;
  if (family > 3 || transport > 2) return { kind: 'invalid', reason: `v2 header with unknown address family ${family} or transport ${transport}` };
  if (bytes.length < V2_FIXED + length) return { kind: 'more' };
  const rest = bytes.subarray(V2_FIXED + length);
  // §2.2: LOCAL means "the connection was established on purpose by the proxy without being
  // relayed": health checks. Its address block, like any TLVs after the addresses, is ignored.
  if (command === 0) return { kind: 'header', header: { version: 2, source: null }, rest };
  const needed = V2_ADDRESS_LENGTH[family];
  if (needed !== undefined && length < needed) return { kind: 'invalid', reason: `v2 address block of ${length} bytes is too short for family ${family}` };
  // UNSPEC and UNIX families carry no IP address: the peer's stays, as with LOCAL.
  if (family === 0 || family === 3) return { kind: 'header', header: { version: 2, source: null }, rest };
  // A datagram source relayed over a TCP stream makes no sense (§2.2 "DGRAM: UDP").
  if (transport === 2) return { kind: 'invalid', reason: 'v2 header announces a datagram (UDP) source on a stream connection' };
  const block = bytes.subarray(V2_FIXED);
  if (family === 1) {
    return { kind: 'header', header: { version: 2, source: { address: Array.from(block.subarray(0, 4)).join('.'), port: block.readUInt16BE(8) } }, rest };
  }
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(block.readUInt16BE(i).toString(16));
  return { kind: 'header', header: { version: 2, source: { address: compressIPv6(groups), port: block.readUInt16BE(32) } }, rest };
}

/** Eight hex groups → RFC 5952 text (longest run of two or more zero groups becomes "::"), as Node reports peers. */
function compressIPv6(groups: readonly string[]): string {
  let best = { start: -1, length: 0 };
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== '0') { i++; continue; }
    let j = i;
    while (j < groups.length && groups[j] === '0') j++;
    if (j - i > best.length && j - i >= 2) best = { start: i, length: j - i };
    i = j;
  }
  if (best.start === -1) return groups.join(':');
  const head = groups.slice(0, best.start).join(':');
  const tail = groups.slice(best.start + best.length).join(':');
  const text = `${head}::${tail}`;
  // An IPv4-mapped source (::ffff:a.b.c.d) reads as Node writes it, so normaliseIp() folds it to IPv4.
  const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(text);
  if (mapped !== null) {
    const hi = parseInt(mapped[1] as string, 16);
    const lo = parseInt(mapped[2] as string, 16);
    return `::ffff:${hi >> 8}.${hi & 0xff}.${lo >> 8}.${lo & 0xff}`;
  }
  return text;
}
