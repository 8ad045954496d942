import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { normaliseIp } from './forwarded.js';

/**
 * The one answer to "which address is this client connection from?": the source a PROXY
 * header named, else the TCP peer. Set once by the front door on the accepted TCP socket;
 * read by everything downstream (forwarded headers, logs, stickiness, trustedProxies).
 */
const CLIENT_ADDRESS = Symbol('gatehouse.clientAddress');

interface Tagged {
  [CLIENT_ADDRESS]?: string;
  /** The TCP socket a TLSSocket wraps (Node sets it for server-side TLS sockets). */
  _parent?: Tagged | null;
  readonly remoteAddress?: string | undefined;
}

/** Record the client address of an accepted TCP socket (normalised: "::ffff:1.2.3.4" → "1.2.3.4"). */
export function setClientAddress(socket: Socket, address: string): void {
  (socket as Tagged)[CLIENT_ADDRESS] = normaliseIp(address);
}

/** The address setClientAddress recorded on this very socket, if it did (the front door's per-address count). */
export function taggedClientAddress(socket: Socket): string | undefined {
  return (socket as Tagged)[CLIENT_ADDRESS];
}

/**
 * The client address of `socket` — the TCP socket itself, the TLSSocket around it, or the
 * proxy an http2 session exposes as `session.socket` in front of either (property reads pass through).
 * Falls back to the peer address, normalised, for sockets the front door never saw.
 */
export function clientAddress(socket: Socket | Duplex): string {
  const tagged = socket as Tagged;
  return tagged[CLIENT_ADDRESS] ?? tagged._parent?.[CLIENT_ADDRESS] ?? normaliseIp(tagged.remoteAddress ?? '');
}

interface Local {
  _parent?: Local | null;
  readonly localPort?: number | undefined;
}

/**
 * The `listen.https` (or :80) port this client connection arrived on, for `{port}` and
 * forwarded-port facts when several ports serve the same sites. Read from the accepted socket
 * (Node caches getsockname per socket, so this is a property read after the first call); works
 * for the TCP socket, its TLSSocket and an http2 session's `socket` proxy alike. Behind a PROXY
 * protocol balancer it is Gatehouse's own port, not the balancer's front port. 0 once the socket is gone.
 */
export function arrivalPort(socket: Socket | Duplex): number {
  const local = socket as Local;
  return local.localPort ?? local._parent?.localPort ?? 0;
}
