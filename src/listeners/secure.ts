import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/types.js';
import { rateLimited, type Logger } from '../log.js';
import type { Metrics } from '../admin/metrics.js';
import { isWebSocketUpgrade } from '../pipeline/upgrade.js';
import type { TLSSocket, TlsOptions } from 'node:tls';
import type { AlpnChallengeHook } from '../tls/acme/responders.js';
import { clientAddress } from '../http/client-address.js';
import { answerClientError } from './client-error.js';
import { h1Limits } from './h1-limits.js';
import type { CertPair, CertStore } from '../tls/cert-store.js';
import type { H2Front } from './h2.js';

export interface SecureListenerDeps {
  /** The store as it is now (a reload may replace it). */
  certs(): CertStore;
  /** The pair the server's own (no-SNI) context was last built from, if any (the edge applies it on swaps and reloads). */
  ownPair(): CertPair | undefined;
  readonly log: Logger;
  readonly metrics: Metrics;
  /** The current HSTS value (it can change on reload). */
  hsts(): string;
  onRequest(req: IncomingMessage, res: ServerResponse): void;
  onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** The HTTP/2 front door, when http2.enabled: sockets whose ALPN chose h2 go there. */
  readonly h2: H2Front | undefined;
  /** tls.acme with tls-alpn-01: ALPN selection and the challenge certificate for validators. */
  readonly acmeAlpn?: AlpnChallengeHook | undefined;
}

/**
 * One TLS server for both protocols, so SNI, the certificate store, session tickets, the
 * connection caps and PROXY-protocol sockets handed in with emit('connection') stay one path.
 * https.Server serves HTTP/1.1 from its 'secureConnection' listener; that listener is taken
 * out and called only for sockets that did not choose h2. (http2.createSecureServer with
 * allowHTTP1 was tried: on Node 20 its HTTP/1.1 fallback drops the options http.Server takes,
 * maxHeaderSize, keepAliveTimeout and headersTimeout among them, so h1 would change.)
 */
function routeAlpn(server: Server, h2: H2Front | undefined): void {
  const h1 = server.listeners('secureConnection')[0] as (socket: TLSSocket) => void;
  server.removeListener('secureConnection', h1);
  // One listener per handshake for everything, so no socket pays for a second emit.
  server.on('secureConnection', (socket: TLSSocket) => {
    socket.on('error', destroyOnError);
    const alpn = socket.alpnProtocol;
    // RFC 8737 §3: an acme-tls/1 connection ends after its handshake; it never carries HTTP.
    if (alpn === 'acme-tls/1') return void socket.destroy();
    if (h2 !== undefined && alpn === 'h2') return h2.accept(socket);
    h1.call(server, socket);
    readThroughStream(socket);
  });
}

/** Every TLS socket's error listener: one function for all of them (`this` is the socket). */
function destroyOnError(this: TLSSocket): void {
  this.destroy();
}

/**
 * Node's HTTP/1.1 server lets its parser read a TLS socket's handle directly. When a request
 * head arrives while the previous response is still draining (a keep-alive client that sends
 * its next request the moment it has the last byte), Node pauses the socket, then that parser,
 * and stops the handle; but TLS hands over the rest of the records it already decrypted from the
 * same read, the paused parser refuses them (HPE_PAUSED), and Node destroys the connection: the
 * client's request is reset, with nothing logged. A 'data' listener on the socket makes Node read
 * it through the socket's stream instead (its documented unconsume path), where a pause buffers
 * those bytes until the response drained. Reading through the stream costs every request (~3 %
 * of a keep-alive request's CPU), so the switch is made at the server's own first 'pause' of
 * the socket (unconsumeOnPause), which it emits synchronously from inside the parser's
 * callback, before it pauses the parser and before TLS hands over the next record. A
 * connection that never backs up keeps the direct path. Plain TCP (:80) stops reading at once: not needed there.
 */
function readThroughStream(socket: TLSSocket): void {
  if (!socket.destroyed) socket.on('pause', unconsumeOnPause);
}

/**
 * At the server's first pause (it sets `_paused` just before): from here on the socket is read
 * through its stream (`this` is the socket). A pause for a request body's backpressure leaves
 * the parser running and the socket consumed, as Node has it.
 */
function unconsumeOnPause(this: TLSSocket & { _paused?: boolean }): void {
  if (this._paused !== true) return;
  this.removeListener('pause', unconsumeOnPause);
  this.on('data', keepForParser);
}

/** The data itself goes to Node's parser through its own 'data' listener. */
function keepForParser(): void {}

/**
 * The :443 listener. TLS settings come from the certificate store (the single owner of
 * SecureContexts); SNI is answered from it on every handshake, so swaps reach new handshakes
 * only (the edge re-applies the no-SNI default with setSecureContext). Every socket gets an
 * error listener the moment it exists.
 */
export function createSecureListener(config: Config, deps: SecureListenerDeps): Server {
  const { timeouts } = config;
  const store = deps.certs();
  // Before ACME's first issuance there may be no pair at all: handshakes fail until one is stored.
  const first = store.defaultPair?.options ?? { minVersion: store.settings.minVersion, ciphers: store.settings.ciphers, ecdhCurve: store.settings.groups.join(':') };
  // RFC 7301: the server picks from the client's list in the server's order, so h2 wins
  // whenever the client offers it. No h2c: h2 exists only inside TLS here.
  const protocols = deps.h2 === undefined ? ['http/1.1'] : ['h2', 'http/1.1'];
  const acme = deps.acmeAlpn;
  const handshake: Pick<TlsOptions, 'SNICallback' | 'ALPNProtocols' | 'ALPNCallback'> = {
    SNICallback(this: TLSSocket, servername, cb) {
      const challenge = acme?.context(this, servername);
      if (challenge !== undefined) return void challenge.then((ctx) => cb(null, ctx), (err: Error) => cb(err, undefined));
      try {
        const pair = deps.certs().pairFor(servername);
        // The server's own context already holds this pair: no SNI context spares OpenSSL
        // re-installing the same certificate, chain and key on this connection.
        cb(null, pair === deps.ownPair() ? undefined : pair?.context);
      } catch (err) {
        cb(err as Error, undefined);
      }
    },
    ...(acme === undefined ? { ALPNProtocols: protocols } : acme.alpn(protocols)),
  };
  const server = createServer({
    ...first,
    ...handshake,
    handshakeTimeout: timeouts.handshake,
    ...h1Limits(config),
    // 0 = no count limit: Node otherwise drops headers past 2000 silently, which could hide a
    // second Origin; the byte limit above still bounds a flood.
    maxHeadersCount: 0,
    // Node's own 400 for a missing Host lacks HSTS: the pipeline answers it (resolve.ts).
    requireHostHeader: false,
    // Node 22.21+/24.9+: only WebSocket handshakes become 'upgrade' events (Node 20 ignores it).
    shouldUpgradeCallback: isWebSocketUpgrade,
    // Node 24.12+/25.1+: a request without Content-Length or Transfer-Encoding skips its body
    // stream's 'data'/'end'/'close' (ignored elsewhere). The pipeline reads req only when its
    // framing is 'length' or 'chunked' (framing.ts), never for 'none'.
    optimizeEmptyRequests: true,
  } as Parameters<typeof createServer>[0]);
  server.maxHeadersCount = 0;

  const tlsError = rateLimited(deps.log, 1000);
  // The front door (front-door.ts) gave the TCP socket its error listener; TLS then moves its
  // handle under the TLSSocket, which reports errors from here on. One 'close' listener shared
  // by every socket: no closure per connection.
  const closed = (): void => { deps.metrics.connections.dec(); };
  server.on('connection', (socket: Socket) => {
    deps.metrics.connections.inc();
    socket.on('close', closed);
  });
  routeAlpn(server, deps.h2);
  server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    tlsError({ event: 'tls-error', code: err.code, clientIp: clientAddress(socket), msg: err.message }, 'TLS handshake failed');
    socket.destroy();
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket, deps.hsts(), deps.log, 'https'));
  server.on('request', deps.onRequest);
  // Without these two listeners Node answers by itself (100 before any check, 417 without HSTS):
  // the pipeline sends the 100 once the request is accepted, or its refusal with HSTS (framing.ts).
  server.on('checkContinue', deps.onRequest);
  server.on('checkExpectation', deps.onRequest);
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    // The tunnel reads the socket from here on; the parser's stand-in listener goes.
    socket.off('data', keepForParser);
    deps.onUpgrade(req, socket, head);
  });
  return server;
}
