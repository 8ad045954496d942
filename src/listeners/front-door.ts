import type { Server, Socket } from 'node:net';
import type { Metrics } from '../admin/metrics.js';
import { rateLimited, type Logger } from '../log.js';
import { isTrusted, normaliseIp } from '../http/forwarded.js';
import type { Runtime } from '../pipeline/runtime.js';
import { setClientAddress } from '../http/client-address.js';
import type { ConnectionGate } from './connection-gate.js';
import { ProxyHeaderParser, sniffProxy } from './proxy-protocol.js';

export interface FrontDoorDeps {
  /** "https" or "http", for logs. */
  readonly listener: string;
  /** The server wraps connections in TLS (node:https, http2 secure server). */
  readonly tls: boolean;
  /** The runtime as it is now: PROXY peers, limits and timeouts apply to new connections after a reload. */
  runtime(): Runtime;
  readonly gate: ConnectionGate;
  readonly log: Logger;
  readonly metrics: Metrics;
}

type Dispatch = (socket: Socket) => void;

/**
 * Put a front door before a listening server's own connection handling (TLS for node:https
 * and http2 secure servers alike, the HTTP parser for node:http): connection caps at accept,
 * then the PROXY header when the peer is a listed balancer (DESIGN 17, 18). Only an admitted
 * socket reaches the server's listeners, with every byte after the header unread, so TLS or
 * HTTP starts exactly where the header ended. Install it after the server's own 'connection'
 * listeners exist and before it listens. Returns a remover.
 */
export function installFrontDoor(server: Server, deps: FrontDoorDeps): () => void {
  const inner = server.listeners('connection') as Dispatch[];
  server.removeAllListeners('connection');
  const dispatch: Dispatch = (socket) => { for (const listener of inner) listener.call(server, socket); };
  const refusals = rateLimited(deps.log, 1000);
  const malformed = rateLimited(deps.log, 1000);
  const acceptFailures = rateLimited(deps.log, 1000);
  const onConnection = (socket: Socket): void => admit(socket, deps, dispatch, refusals, malformed);
  // libuv reports EMFILE/ENFILE from accept(2) as a server 'error' after closing the pending
  // connection (its reserve-descriptor trick); the listener keeps accepting once descriptors
  // free up, so this is a log line, never a crash.
  const onError = (err: NodeJS.ErrnoException): void => {
    if (err.syscall === 'accept') acceptFailures({ event: 'accept-error', code: err.code, listener: deps.listener }, 'cannot accept connections (out of file descriptors?); open ones keep being served');
  };
  server.on('connection', onConnection);
  server.on('error', onError);
  return () => {
    server.off('connection', onConnection);
    server.off('error', onError);
    for (const listener of inner) server.on('connection', listener);
  };
}

type Log = (fields: object, message: string) => void;

/**
 * What an admitted-so-far connection waits for: `sniff` — an unlisted peer's first bytes (a
 * PROXY signature there is refused); `header` — a listed peer's PROXY header; `first-byte` —
 * the first byte after a header (a balancer health check closes here, and TLS never hears of it).
 */
type Wait = 'sniff' | 'header' | 'first-byte';

function admit(socket: Socket, deps: FrontDoorDeps, dispatch: Dispatch, refusals: Log, malformed: Log): void {
  socket.on('error', () => socket.destroy());
  // A peer that already reset (a health check that connects and leaves) has no address left.
  if (socket.remoteAddress === undefined) return void socket.destroy();
  const runtime = deps.runtime();
  const { limits, timeouts } = runtime.config;
  const peer = normaliseIp(socket.remoteAddress);
  const refuse = (reason: 'limit' | 'per_ip', clientIp: string): void => {
    socket.destroy();
    deps.metrics.connectionsRefused.labels(reason).inc();
    refusals({ event: 'connection-refused', reason, clientIp, listener: deps.listener, open: deps.gate.open }, reason === 'limit' ? 'connection refused: limits.connections reached' : 'connection refused: limits.connectionsPerIp reached');
  };
  const release = deps.gate.enter(limits.connections);
  if (release === null) return refuse('limit', peer);
  socket.once('close', release);

  /** Count the connection against its client address; false when that refused it. */
  const counted = (address: string): boolean => {
    const releaseIp = deps.gate.enterIp(address, limits.connectionsPerIp);
    if (releaseIp === null) {
      refuse('per_ip', address);
      return false;
    }
    socket.once('close', releaseIp);
    setClientAddress(socket, address);
    return true;
  };
  const handOver = (replay: Buffer): void => {
    // Bytes read past the header go back in front of the stream: TLS (or the HTTP parser)
    // reads them first, so a header and a ClientHello sharing one segment lose nothing.
    if (replay.length > 0) socket.unshift(replay);
    dispatch(socket);
    // node:http reads a paused socket only once it is resumed (its unshifted bytes first);
    // a TLS server has already moved the TCP handle under its TLSSocket, which took the bytes.
    if (!deps.tls) socket.resume();
  };
  const proxyPeers = runtime.proxyPeers;
  if (!proxyPeers.any) {
    if (counted(peer)) handOver(Buffer.alloc(0));
    return;
  }

  let wait: Wait = isTrusted(proxyPeers, peer) ? 'header' : 'sniff';
  const parser = new ProxyHeaderParser();
  let seen: Buffer = Buffer.alloc(0);
  const close = (reason: string | null): void => {
    stop();
    socket.destroy();
    if (reason !== null) malformed({ event: 'proxy-protocol', reason, peer, listener: deps.listener }, 'connection closed: PROXY protocol');
  };
  const onData = (chunk: Buffer): void => {
    if (wait === 'first-byte') {
      stop();
      return handOver(chunk);
    }
    if (wait === 'sniff') {
      seen = seen.length === 0 ? chunk : Buffer.concat([seen, chunk]);
      const sniffed = sniffProxy(seen);
      if (sniffed === 'yes') return close('PROXY header from a peer not in listen.proxyProtocol');
      if (sniffed === 'maybe') return;
      stop();
      if (counted(peer)) handOver(seen);
      return;
    }
    const answer = parser.push(chunk);
    if (answer.kind === 'more') return;
    if (answer.kind === 'none') return close('no PROXY header from a listen.proxyProtocol peer');
    if (answer.kind === 'invalid') return close(answer.reason);
    // The per-IP cap applies right after the header, before any TLS work (DESIGN 18).
    if (!counted(answer.header.source === null ? peer : normaliseIp(answer.header.source.address))) return stop();
    if (answer.rest.length === 0) {
      wait = 'first-byte';
      return;
    }
    stop();
    handOver(answer.rest);
  };
  const onEnd = (): void => close(null);
  const timer = setTimeout(() => close(wait === 'header' ? 'no complete PROXY header within timeouts.headers' : null), timeouts.headers);
  const stop = (): void => {
    clearTimeout(timer);
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', stop);
    socket.pause();
  };
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', stop);
}
