import type { ServerOptions } from 'node:http';
import type { Config } from '../config/types.js';

/**
 * The head timeout, head size and keep-alive limits of an HTTP/1.1 listener, the same on :443 and
 * :80 (README "What it does, and why": Redirects): without them the :80 listener ran on Node's defaults (60 s for a head, 16 KB,
 * 5 s keep-alive), whatever `timeouts` and `limits` said.
 */
export function h1Limits({ timeouts, limits }: Config): ServerOptions {
  return {
    headersTimeout: timeouts.headers,
    requestTimeout: 0, // long uploads and slow upstreams are bounded by timeouts.response instead
    // Node enforces headersTimeout only when it sweeps connections (every 30 s by default):
    // sweep often enough that a slowloris client really is cut near timeouts.headers.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headers / 4))),
    keepAliveTimeout: timeouts.idle,
    maxHeaderSize: limits.headerSize,
  };
}
