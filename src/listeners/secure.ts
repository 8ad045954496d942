import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/types.js';
import { rateLimited, type Logger } from '../log.js';
import type { Metrics } from '../admin/metrics.js';
import { respondRaw } from '../pipeline/respond.js';
import { clientAddress } from './client-address.js';
import type { CertStore } from '../tls/cert-store.js';

export interface SecureListenerDeps {
  /** The store as it is now (a reload may replace it). */
  certs(): CertStore;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The current HSTS value (it can change on reload). */
  hsts(): string;
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** Node's HTTP parser errors → the status Gatehouse answers with (Node's own replies lack HSTS). */
const PARSER_STATUS: Readonly<Record<string, number>> = {
  HPE_HEADER_OVERFLOW: 431,
  ERR_HTTP_REQUEST_TIMEOUT: 408,
  HPE_CHUNK_EXTENSIONS_OVERFLOW: 413,
};

/**
 * The :443 listener. TLS settings come from the certificate store (the single owner of
 * SecureContexts); SNI is answered from it on every handshake, so swaps reach new handshakes
 * only (the edge re-applies the no-SNI default with setSecureContext). Every socket gets an
 * error listener the moment it exists.
 */
export function createSecureListener(config: Config, deps: SecureListenerDeps): Server {
  const { timeouts, limits } = config;
  const first = deps.certs().defaultPair;
  const server = createServer({
    ...first.options,
    SNICallback: (servername, cb) => {
      try {
        cb(null, deps.certs().contextFor(servername));
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
    ALPNProtocols: ['http/1.1'],
    handshakeTimeout: timeouts.handshake,
    headersTimeout: timeouts.headers,
    requestTimeout: 0, // long uploads and slow upstreams are bounded by timeouts.response instead
    // Node enforces headersTimeout only when it sweeps connections (every 30 s by default):
    // sweep often enough that a slowloris client really is cut near timeouts.headers.
    connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(timeouts.headers / 4))),
    keepAliveTimeout: timeouts.idle,
    maxHeaderSize: limits.headerSize,
    // 0 = no count limit: Node otherwise drops headers past 2000 silently, which could hide a
    // second Origin; the byte limit above still bounds a flood.
    maxHeadersCount: 0,
  } as Parameters<typeof createServer>[0]);
  server.maxHeadersCount = 0;

  const tlsError = rateLimited(deps.log, 1000);
  server.on('connection', (socket: Socket) => {
    socket.on('error', () => socket.destroy());
    deps.metrics.connections.inc();
    socket.once('close', () => deps.metrics.connections.dec());
  });
  server.on('secureConnection', (socket: Socket) => socket.on('error', () => socket.destroy()));
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    tlsError({ event: 'tls-error', code: err.code, clientIp: clientAddress(socket), msg: err.message }, 'TLS handshake failed');
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
    const inFlight = (socket as Duplex & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (err.code === 'ECONNRESET' || !socket.writable || inFlight?.headersSent === true) {
      socket.destroy();
      return;
    }
    const status = PARSER_STATUS[err.code ?? ''] ?? 400;
    respondRaw(socket, status, deps.hsts(), status === 431 ? 'request headers too large' : status === 408 ? 'request timeout' : 'bad request');
    deps.log.info({ event: 'client-error', code: err.code, status }, 'malformed request');
  });
  server.on('request', deps.onRequest);
  server.on('upgrade', deps.onUpgrade);
  return server;
}
