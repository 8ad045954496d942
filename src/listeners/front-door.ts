import type { Server, Socket } from 'node:net';
import type { Metrics } from '../admin/metrics.js';
import type { LimitsConfig } from '../config/types.js';
import { rateLimited, type Logger } from '../log.js';
import { isTrusted, normaliseIp } from '../http/forwarded.js';
import type { Runtime } from '../pipeline/runtime.js';
import { setClientAddress, taggedClientAddress } from '../http/client-address.js';
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
 * then the PROXY header when the peer is a listed balancer (README "Running several instances"). Only an admitted
 * socket reaches the server's listeners, with every byte after the header unread, so TLS or
 * HTTP starts exactly where the header ended. Install it after the server's own 'connection'
 * listeners exist and before it listens. Returns a remover.
 */
export function installFrontDoor(server: Server, deps: FrontDoorDeps): () => void {
  const inner = server.listeners('connection') as Dispatch[];
  server.removeAllListeners('connection');
  const [only] = inner;
  // Almost always one inner listener (the TLS or HTTP server's own): called directly, no loop per socket.
  const dispatch: Dispatch = inner.length === 1 && only !== undefined ? only.bind(server) : (socket) => { for (const listener of inner) listener.call(server, socket); };
  const gate = deps.gate;
  // One 'close' listener per socket, shared by every socket of this door (no closure per
  // connection): the total count always; the per-address count when the socket was tagged with
  // its client address, which counted() does exactly when that count admitted it.
  const leave = function (this: Socket): void {
    gate.leave();
    const address = taggedClientAddress(this);
    if (address !== undefined) gate.leaveIp(address);
  };
  const door: Door = { deps, dispatch, leave, refusals: rateLimited(deps.log, 1000), malformed: rateLimited(deps.log, 1000) };
  const acceptFailures = rateLimited(deps.log, 1000);
  const onConnection = (socket: Socket): void => admit(socket, door);
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

/** Every client socket's error listener: one function for all of them (`this` is the socket). */
function destroyOnError(this: Socket): void {
  this.destroy();
}

type Log = (fields: object, message: string) => void;

/** One listener's front door: what every admission on it shares. */
interface Door {
  readonly deps: FrontDoorDeps;
  readonly dispatch: Dispatch;
  /** The 'close' listener of every admitted socket: gives back what the gate counted. */
  readonly leave: (this: Socket) => void;
  readonly refusals: Log;
  readonly malformed: Log;
}

function admit(socket: Socket, door: Door): void {
  socket.on('error', destroyOnError);
  // A peer that already reset (a health check that connects and leaves) has no address left.
  if (socket.remoteAddress === undefined) return void socket.destroy();
  const runtime = door.deps.runtime();
  const { limits, timeouts } = runtime.config;
  const peer = normaliseIp(socket.remoteAddress);
  if (!door.deps.gate.enter(limits.connections)) return refuse(door, socket, 'limit', peer);
  // 'close' comes once per socket: exactly one leave for the enter above.
  socket.on('close', door.leave);
  const proxyPeers = runtime.proxyPeers;
  if (!proxyPeers.any) {
    if (counted(door, socket, limits, peer)) handOver(door, socket);
    return;
  }
  new ProxyWait(door, socket, limits, peer, isTrusted(proxyPeers, peer) ? Wait.Header : Wait.Sniff, timeouts.headers);
}

function refuse(door: Door, socket: Socket, reason: 'limit' | 'per_ip', clientIp: string): void {
  socket.destroy();
  door.deps.metrics.connectionsRefused.labels(reason).inc();
  door.refusals({ event: 'connection-refused', reason, clientIp, listener: door.deps.listener, open: door.deps.gate.open }, reason === 'limit' ? 'connection refused: limits.connections reached' : 'connection refused: limits.connectionsPerIp reached');
}

/** Count the connection against its client address; false when that refused it. */
function counted(door: Door, socket: Socket, limits: LimitsConfig, address: string): boolean {
  if (!door.deps.gate.enterIp(address, limits.connectionsPerIp)) {
    refuse(door, socket, 'per_ip', address);
    return false;
  }
  // The tag is also what door.leave releases on close.
  setClientAddress(socket, address);
  return true;
}

function handOver(door: Door, socket: Socket, replay?: Buffer): void {
  // Bytes read past the header go back in front of the stream: TLS (or the HTTP parser)
  // reads them first, so a header and a ClientHello sharing one segment lose nothing.
  if (replay !== undefined && replay.length > 0) socket.unshift(replay);
  door.dispatch(socket);
  // node:http reads a paused socket only once it is resumed (its unshifted bytes first);
  // a TLS server has already moved the TCP handle under its TLSSocket, which took the bytes.
  if (!door.deps.tls) socket.resume();
}

/**
 * What an admitted-so-far connection waits for: `Sniff` — an unlisted peer's first bytes (a
 * PROXY signature there is refused); `Header` — a listed peer's PROXY header; `FirstByte` —
 * the first byte after a header (a balancer health check closes here, and TLS never hears of
 * it); `None` — nothing any more (handed over or closed).
 */
const enum Wait { None, Sniff, Header, FirstByte }

/**
 * A connection from a network that has PROXY peers, before the server sees it: one timer
 * (timeouts.headers, from accept) and the `Wait` it is in. It reads until it knows whose
 * connection this is, then hands the socket over with the bytes past the header unread, or
 * closes it.
 */
class ProxyWait {
  readonly #door: Door;
  readonly #socket: Socket;
  readonly #limits: LimitsConfig;
  readonly #peer: string;
  readonly #parser = new ProxyHeaderParser();
  readonly #timer: NodeJS.Timeout;
  #wait: Wait;
  /** An unlisted peer's bytes so far, while they could still be the start of a PROXY signature. */
  #seen: Buffer = Buffer.alloc(0);
  readonly #onData = (chunk: Buffer): void => this.#read(chunk);
  readonly #onEnd = (): void => this.#close(null);
  readonly #onClose = (): void => this.#stop();

  constructor(door: Door, socket: Socket, limits: LimitsConfig, peer: string, wait: Wait, timeoutMs: number) {
    this.#door = door;
    this.#socket = socket;
    this.#limits = limits;
    this.#peer = peer;
    this.#wait = wait;
    this.#timer = setTimeout(proxyTimedOut, timeoutMs, this);
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
  }

  /** The timer fired: only a header cut short is worth a log line (a silent peer is not). */
  timedOut(): void {
    this.#close(this.#wait === Wait.Header ? 'no complete PROXY header within timeouts.headers' : null);
  }

  #read(chunk: Buffer): void {
    if (this.#wait === Wait.FirstByte) {
      this.#stop();
      return handOver(this.#door, this.#socket, chunk);
    }
    if (this.#wait === Wait.Sniff) {
      const seen = this.#seen.length === 0 ? chunk : Buffer.concat([this.#seen, chunk]);
      this.#seen = seen;
      const sniffed = sniffProxy(seen);
      if (sniffed === 'yes') return this.#close('PROXY header from a peer not in listen.proxyProtocol');
      if (sniffed === 'maybe') return;
      this.#stop();
      if (counted(this.#door, this.#socket, this.#limits, this.#peer)) handOver(this.#door, this.#socket, seen);
      return;
    }
    const answer = this.#parser.push(chunk);
    if (answer.kind === 'more') return;
    if (answer.kind === 'none') return this.#close('no PROXY header from a listen.proxyProtocol peer');
    if (answer.kind === 'invalid') return this.#close(answer.reason);
    // The per-IP cap applies right after the header, before any TLS work (README: `limits.connectionsPerIp`).
    if (!counted(this.#door, this.#socket, this.#limits, answer.header.source === null ? this.#peer : normaliseIp(answer.header.source.address))) return this.#stop();
    if (answer.rest.length === 0) {
      this.#wait = Wait.FirstByte;
      return;
    }
    this.#stop();
    handOver(this.#door, this.#socket, answer.rest);
  }

  #close(reason: string | null): void {
    this.#stop();
    this.#socket.destroy();
    if (reason !== null) this.#door.malformed({ event: 'proxy-protocol', reason, peer: this.#peer, listener: this.#door.deps.listener }, 'connection closed: PROXY protocol');
  }

  /** Done waiting: the timer and listeners go, and the socket stays paused for whoever reads it next. */
  #stop(): void {
    this.#wait = Wait.None;
    clearTimeout(this.#timer);
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    socket.pause();
  }
}

function proxyTimedOut(wait: ProxyWait): void {
  wait.timedOut();
}
