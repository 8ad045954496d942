// The request head an attempt writes upstream (RFC 9112 §3, §5): the header bytes as the pipeline
// left them, then the edge's own body framing and connection fields.
import { handshakeHead } from './handshake.js';
import type { UpstreamRequest } from './request.js';

/** The request line and header block, serialised once per attempt; `keepAlive` false asks the upstream to close after its answer. */
export function requestHead(request: UpstreamRequest, keepAlive: boolean): string {
  if (request.upgradeKey !== undefined) return handshakeHead(request);
  let head = `${request.method} ${request.path} HTTP/1.1\r\n`;
  const headers = request.headers;
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') {
      head += `${name}: ${value}\r\n`;
    } else {
      for (const v of value) head += `${name}: ${v}\r\n`;
    }
  }
  if (request.body === 'chunked') head += 'transfer-encoding: chunked\r\n';
  // Explicit, so HTTP/1.0-minded upstreams keep the connection too. Without reuse (keepalive 0)
  // the upstream is told the connection ends with this exchange (RFC 9112 §9.6), as nginx does
  // without `keepalive`: it need not hold the socket open waiting for a request that never comes.
  return `${head}connection: ${keepAlive ? 'keep-alive' : 'close'}\r\n\r\n`;
}
