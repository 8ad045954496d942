// Two upstreams for the request-writer differential test: a node:http server (llhttp parses what
// it receives) and a raw net server keeping the exact bytes of every request.
import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';

type Tap = { teardown(fn: () => unknown): void };

/** A request as llhttp parsed it; the body as raw bytes. */
export interface Parsed {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Recorder<T> {
  readonly port: number;
  /** The next request to arrive (or one that already did and was not taken yet). */
  next(): Promise<T>;
}

function queue<T>(): { push(item: T): void; next(): Promise<T> } {
  const items: T[] = [];
  const waiting: Array<(item: T) => void> = [];
  return {
    push(item) {
      const w = waiting.shift();
      if (w === undefined) items.push(item);
      else w(item);
    },
    next() {
      const item = items.shift();
      if (item !== undefined) return Promise.resolve(item);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('no request reached the upstream within 5 s')), 5000);
        waiting.push((arrived) => { clearTimeout(timer); resolve(arrived); });
      });
    },
  };
}

/** A node:http upstream recording each request as llhttp parsed it, answering 200 "ok". */
export async function llhttpUpstream(t: Tap): Promise<Recorder<Parsed>> {
  const seen = queue<Parsed>();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.concat(chunks) });
      res.end('ok');
    });
  });
  server.on('connection', (s: Socket) => s.on('error', () => s.destroy()));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  return { port: (server.address() as AddressInfo).port, next: () => seen.next() };
}

/**
 * Where a request written by Gatehouse ends in `buffer` (or -1 while incomplete): its head, then
 * Content-Length bytes or a chunked body up to the last chunk (Gatehouse sends no trailers).
 */
function requestEnd(buffer: Buffer): number {
  const head = buffer.indexOf('\r\n\r\n');
  if (head === -1) return -1;
  const text = buffer.toString('latin1', 0, head).toLowerCase();
  const length = /\r\ncontent-length: *(\d+)/.exec(text);
  if (/\r\ntransfer-encoding: *chunked/.test(text)) {
    let at = head + 4;
    for (;;) {
      const lf = buffer.indexOf('\r\n', at);
      if (lf === -1) return -1;
      const size = parseInt(buffer.toString('latin1', at, lf), 16);
      if (size === 0) return buffer.length >= lf + 4 ? lf + 4 : -1;
      at = lf + 2 + size + 2;
      if (at > buffer.length) return -1;
    }
  }
  const end = head + 4 + (length === null ? 0 : Number(length[1]));
  return buffer.length >= end ? end : -1;
}

/** A raw upstream keeping the exact bytes of each request, answering an empty 200. */
export async function bytesUpstream(t: Tap): Promise<Recorder<Buffer>> {
  const seen = queue<Buffer>();
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let buffer = Buffer.alloc(0);
    socket.on('data', (d: Buffer) => {
      buffer = Buffer.concat([buffer, d]);
      for (let end = requestEnd(buffer); end !== -1; end = requestEnd(buffer)) {
        seen.push(buffer.subarray(0, end));
        buffer = buffer.subarray(end);
        socket.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return { port: (server.address() as AddressInfo).port, next: () => seen.next() };
}
