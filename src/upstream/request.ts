import type { IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import type { EdgeError } from '../errors.js';
import type { TargetState, Upstream } from './targets.js';
import type { ResponseHead } from './response-parser.js';

/** How the request body travels upstream: none, as-is under Content-Length, or re-chunked. */
export type BodyFraming = 'none' | 'length' | 'chunked';

/**
 * What one exchange asks of an upstream, whatever the client spoke (HTTP/1.1 or h2): only what
 * its caller states. The retry state (target, targets ruled out, the attempt in flight) is the
 * Sending's that `UpstreamClient.send()` returns (client.ts). The request line and headers go
 * upstream exactly as given (latin1, byte for byte).
 */
export interface UpstreamRequest {
  readonly method: string;
  /** The request-target exactly as received (never normalised: "//" and escapes stay). */
  readonly path: string;
  /** The headers to send upstream (hop-by-hop removed, forwarded headers applied). */
  readonly headers: IncomingHttpHeaders;
  readonly body: BodyFraming;
  readonly upstream: Upstream;
  /** The client's rendezvous key (Upstream.requestKey(clientIp): '' when the upstream has nothing to choose between). */
  readonly key: string;
  readonly connectTimeout: number;
  /** The longest the upstream may keep us waiting: for its head once the request is sent, between body reads, or to take body bytes. */
  readonly responseTimeout: number;
  /** The longest the client may pause while sending its body, or stop reading the response (timeouts.idle). */
  readonly bodyTimeout: number;
  /** For a WebSocket upgrade: the Sec-WebSocket-Key in `headers`; only a 101 answering it is an upgrade. */
  readonly upgradeKey?: string;
  /** Health probes: this target and no other, and no passive failure counted against it. */
  readonly pinned?: TargetState;
}

/**
 * Where an answer goes: a ServerResponse (proxy/forward.ts), a raw client socket for an upgrade
 * (proxy/tunnel.ts), or nowhere but a verdict (health probes). Called by the attempt path only;
 * exactly one of end, upgrade or fail ends an exchange (abort ends it silently).
 */
export interface UpstreamSink {
  /** The request body, paused; read only once a connection is up, so a connect failure loses none. */
  readonly source: Readable | undefined;
  /** The client is gone: nothing to answer, nobody to blame, nothing to retry. */
  gone(): boolean;
  /** The final head (never a 1xx; a 101 only through `upgrade`). */
  head(head: ResponseHead): void;
  /** A piece of the body; false asks for backpressure, and the sink then calls its Sending's `resume()` once it drained. */
  body(chunk: Buffer): boolean;
  /** The answer is complete; `tail` is its last piece when it came with the end (write both at once). */
  end(tail: Buffer | undefined): void;
  /** A checked 101: the socket now belongs to the sink; `rest` holds the new protocol's first bytes. */
  upgrade(socket: Socket, head: ResponseHead, rest: Buffer, target: TargetState): void;
  /** The exchange failed for good; `error.status` is what to answer if nothing went out yet, else only close. */
  fail(error: EdgeError): void;
}

export interface UpstreamHooks {
  /** A target just crossed maxFails and is now down. */
  targetDown(target: TargetState, error: EdgeError): void;
}
