// The WebSocket handshake as the attempt path writes it upstream and checks the answer (RFC 6455 §4.1, client side).
import { createHash } from 'node:crypto';
import type { UpstreamRequest } from './request.js';
import type { ResponseHead } from './response-parser.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/**
 * A WebSocket handshake: never any body framing (the pipeline refused a handshake announcing a
 * body, and the bytes after it are the tunnel's), so no upstream can wait for a body that would
 * be the next request on the connection.
 */
export function handshakeHead(request: UpstreamRequest): string {
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  const headers = request.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || name === 'content-length' || name === 'transfer-encoding') continue;
    if (typeof value === 'string') {
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) head += `${name}: ${v}\r\n`;
    }
  }
  return `${head}connection: upgrade\r\nupgrade: websocket\r\n\r\n`;
}

/** RFC 6455 §4.1 (client side): what is wrong with a 101, or undefined when it really is our WebSocket handshake. */
export function handshakeProblem(head: ResponseHead, key: string): string | undefined {
  if (!head.connectionTokens.includes('upgrade')) return 'no Connection: upgrade';
  let upgrade: string | undefined;
  let accept: string | undefined;
  let accepts = 0;
  const raw = head.headers;
  for (let i = 0; i < raw.length; i += 2) {
    const name = (raw[i] as string).toLowerCase();
    if (name === 'upgrade') upgrade = raw[i + 1];
    else if (name === 'sec-websocket-accept') {
      accept = raw[i + 1];
      accepts++;
    }
  }
  if (upgrade?.toLowerCase() !== 'websocket') return 'no Upgrade: websocket';
  if (accepts !== 1 || accept !== createHash('sha1').update(key + WS_GUID).digest('base64')) return 'a wrong Sec-WebSocket-Accept';
  return undefined;
}
