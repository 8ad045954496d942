import { connect as netConnect, isIPv4, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { testCerts } from './certs.js';

/** A PROXY v1 line, CRLF included. */
export function v1(family: 'TCP4' | 'TCP6', src: string, dst: string, sport: number, dport: number): Buffer {
  return Buffer.from(`PROXY ${family} ${src} ${dst} ${sport} ${dport}\r\n`, 'latin1');
}

const V2_SIGNATURE = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

function ipBytes(address: string): Buffer {
  if (isIPv4(address)) return Buffer.from(address.split('.').map(Number));
  // Expand "::" then write eight 16-bit groups.
  const [head = '', tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === '' ? [] : tail.split(':');
  const groups = address.includes('::') ? [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t] : h;
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** A PROXY v2 header: PROXY over TCP with the given addresses (IPv4 or IPv6), optional TLV bytes appended. */
export function v2(src: string, dst: string, sport: number, dport: number, tlvs: Buffer = Buffer.alloc(0)): Buffer {
  const ports = Buffer.alloc(4);
  ports.writeUInt16BE(sport, 0);
  ports.writeUInt16BE(dport, 2);
  const body = Buffer.concat([ipBytes(src), ipBytes(dst), ports, tlvs]);
  return v2Raw(0x21, isIPv4(src) ? 0x11 : 0x21, body);
}

/** A v2 header from its version/command byte, family/transport byte and body (lengths filled in). */
export function v2Raw(versionCommand: number, familyTransport: number, body: Buffer, length = body.length): Buffer {
  const fixed = Buffer.alloc(4);
  fixed[0] = versionCommand;
  fixed[1] = familyTransport;
  fixed.writeUInt16BE(length, 2);
  return Buffer.concat([V2_SIGNATURE, fixed, body]);
}

/** v2 LOCAL (what a balancer's health check sends), with an address block it must be ignored. */
export function v2Local(): Buffer {
  return v2Raw(0x20, 0x11, Buffer.alloc(12, 7));
}

export interface PrefixedOptions {
  /** Write the header one byte at a time (each its own TCP write) before TLS starts. */
  readonly byteByByte?: boolean;
  readonly localAddress?: string;
}

/**
 * A TCP connection whose first bytes are `header`, then whatever the caller writes, with the
 * header glued to that first write (one segment) unless `byteByByte`. Reads pass through.
 */
export function prefixedSocket(port: number, header: Buffer, options: PrefixedOptions = {}): { tcp: Socket; stream: Duplex } {
  const tcp = netConnect({ host: '127.0.0.1', port, ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }) });
  tcp.setNoDelay(true);
  tcp.on('error', () => undefined);
  let pending: Buffer | null = header;
  if (options.byteByByte === true) {
    for (const byte of header) tcp.write(Buffer.from([byte]));
    pending = null;
  }
  const stream = new Duplex({
    write(chunk: Buffer, _enc, done) {
      const data = pending === null ? chunk : Buffer.concat([pending, chunk]);
      pending = null;
      tcp.write(data, () => done());
    },
    read() {
      tcp.resume();
    },
    final(done) {
      tcp.end();
      done();
    },
    destroy(err, done) {
      tcp.destroy();
      done(err);
    },
  });
  tcp.on('data', (d: Buffer) => { if (!stream.push(d)) tcp.pause(); });
  tcp.on('end', () => stream.push(null));
  tcp.on('close', () => stream.destroy());
  return { tcp, stream };
}

/**
 * One HTTP/1.1 request over TLS behind `header` (PROXY v1/v2 or anything else); resolves with
 * the raw response text, or '' when the server closed without answering.
 */
export async function requestBehind(port: number, header: Buffer, options: PrefixedOptions & { path?: string; waitMs?: number } = {}): Promise<string> {
  const certs = await testCerts();
  const { stream } = prefixedSocket(port, header, options);
  return new Promise((resolve) => {
    const socket = tlsConnect({ socket: stream, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['http/1.1'] }, () => {
      socket.write(`GET ${options.path ?? '/'} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    });
    const chunks: Buffer[] = [];
    const finish = (): void => { clearTimeout(timer); socket.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const timer = setTimeout(finish, options.waitMs ?? 5000);
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('close', finish);
    socket.on('error', finish);
  });
}

/** Plain HTTP (the :80 listener) behind `header`; resolves with the raw response or ''. */
export async function plainBehind(port: number, header: Buffer, request: string, waitMs = 5000): Promise<string> {
  const { tcp } = prefixedSocket(port, Buffer.alloc(0));
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    const finish = (): void => { clearTimeout(timer); tcp.destroy(); resolve(Buffer.concat(chunks).toString('latin1')); };
    const timer = setTimeout(finish, waitMs);
    tcp.on('data', (c: Buffer) => chunks.push(c));
    tcp.on('close', finish);
    tcp.write(Buffer.concat([header, Buffer.from(request, 'latin1')]));
  });
}
