import { createHash } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';

/** One upstream address of the nginx config, as written there, and what it is called in the echo. */
export interface TargetSpec {
  /** The address as nginx names it, normalised: `host:port` or `unix:/path`. */
  readonly address: string;
  /** What the echo says answered: the upstream block's name, or the address itself. */
  readonly label: string;
}

/** What a stand-in echoes for every request: the body of its 200, as JSON. */
export interface Echo {
  readonly standIn: string;
  readonly method: string;
  /** The request target exactly as received (path and query, encoding untouched). */
  readonly url: string;
  readonly headers: Readonly<Record<string, string>>;
  /** sha256 of the request body, hex; '' for none. */
  readonly body: string;
}

/** The header a request carries to make every stand-in answer that status instead (an auth_request service saying no). */
export const ANSWER_HEADER = 'x-compare-answer';

/**
 * One loopback server (or Unix socket) per upstream address of the config, each echoing what it
 * received. nginx and Gatehouse are pointed at the same stand-ins, so the same request must
 * arrive at the same label with the same method, target, body and headers.
 */
export class StandIns {
  private readonly servers: Server[] = [];
  /** Original address → the stand-in's address (`127.0.0.1:PORT` or `unix:/tmp/…`). */
  readonly addresses = new Map<string, string>();

  static async start(targets: readonly TargetSpec[], socketDir: string): Promise<StandIns> {
    const standIns = new StandIns();
    try {
      for (const [i, target] of targets.entries()) {
        if (standIns.addresses.has(target.address)) continue;
        standIns.addresses.set(target.address, await standIns.listen(target.label, target.address.startsWith('unix:') ? join(socketDir, `s${i}.sock`) : undefined));
      }
    } catch (err) {
      await standIns.close();
      throw err;
    }
    return standIns;
  }

  /** The stand-in for an address as the config writes it (`host:port`, `unix:/p`), if there is one. */
  lookup(address: string): string | undefined {
    return this.addresses.get(address);
  }

  private async listen(label: string, socketPath: string | undefined): Promise<string> {
    const server = createServer((req, res) => {
      const hash = createHash('sha256');
      let length = 0;
      req.on('data', (chunk: Buffer) => { hash.update(chunk); length += chunk.length; });
      req.on('end', () => {
        const echo: Echo = { standIn: label, method: req.method ?? '', url: req.url ?? '', headers: flatHeaders(req), body: length === 0 ? '' : hash.digest('hex') };
        const wanted = Number(req.headers[ANSWER_HEADER]);
        const status = Number.isInteger(wanted) && wanted >= 200 && wanted <= 599 ? wanted : 200;
        res.writeHead(status, { 'content-type': 'application/json', 'x-powered-by': 'compare-stand-in', 'cache-control': 'private' });
        res.end(req.method === 'HEAD' ? undefined : JSON.stringify(echo));
      });
    });
    // RFC 6455 §4.2.2: a 101 with the accept key; the tunnel itself is not compared, so the socket closes after it.
    server.on('upgrade', (req: IncomingMessage, socket: Socket) => {
      const key = req.headers['sec-websocket-key'] ?? '';
      const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      socket.on('error', () => socket.destroy());
      socket.end(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nX-Compare-Stand-In: ${label}\r\n\r\n`);
    });
    server.on('connection', (s: Socket) => s.on('error', () => s.destroy()));
    this.servers.push(server);
    if (socketPath === undefined) server.listen(0, '127.0.0.1');
    else server.listen(socketPath);
    await once(server, 'listening');
    return socketPath === undefined ? `127.0.0.1:${(server.address() as AddressInfo).port}` : `unix:${socketPath}`;
  }

  async close(): Promise<void> {
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.closeAllConnections();
      s.close(() => resolve());
    })));
  }
}

/** A message's header names lower-cased, repeated fields joined as one line (the order inside is kept): requests at the stand-ins, answers at the client. */
export function flatHeaders(message: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < message.rawHeaders.length; i += 2) {
    const name = (message.rawHeaders[i] as string).toLowerCase();
    const value = message.rawHeaders[i + 1] as string;
    out[name] = out[name] === undefined ? value : `${out[name]}, ${value}`;
  }
  return out;
}

/** The echo in a response body, or undefined when the body is not one (a static file, an error page). */
export function parseEcho(body: Buffer): Echo | undefined {
  if (body.length === 0 || body[0] !== 0x7b) return undefined;
  try {
    const value = JSON.parse(body.toString('utf8')) as Partial<Echo>;
    return typeof value.standIn === 'string' && typeof value.url === 'string' ? value as Echo : undefined;
  } catch {
    return undefined;
  }
}
