import { request as httpRequest, type ClientRequest, type IncomingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP } from 'node:net';
import { checkServerIdentity, connect as tlsConnect, type PeerCertificate, type SecureVersion, type TLSSocket } from 'node:tls';

/*
 * The network side of `gatehouse check --live`: single-shot probes, each under one deadline
 * (connect, handshake and response head together), each returning an outcome instead of
 * throwing, so the caller turns every result (timeouts included) into a verdict line.
 */

/** Where and how to dial the edge under test. */
export interface Dial {
  /** The name the edge must serve: checked against its certificate and sent as SNI. */
  readonly name: string;
  /** What to connect to: the URL's host, or the --connect override (like curl --connect-to). */
  readonly address: string;
  /** Trust for the edge's chain (PEM); undefined: Node's bundled roots. */
  readonly ca: string | undefined;
  readonly timeoutMs: number;
}

export type Outcome<T> =
  | { readonly ok: true; readonly value: T }
  | { readonly ok: false; readonly error: string; readonly timedOut: boolean };

export interface Handshake {
  readonly protocol: string;
  readonly cipher: string;
  readonly certificate: PeerCertificate;
  /** The chain verified against `ca` (or the system roots). */
  readonly trusted: boolean;
  readonly trustError: string | undefined;
  /** RFC 6125 name check of the certificate against `Dial.name`; undefined when it matches. */
  readonly nameError: string | undefined;
}

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

/** RFC 6066 §3: SNI carries DNS names only, never an address literal. */
function sni(name: string): { servername?: string } {
  return isIP(name) === 0 ? { servername: name } : {};
}

/** A readable error: OpenSSL's reason ("tlsv1 alert protocol version") or the errno code and message. */
function describe(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as NodeJS.ErrnoException & { reason?: unknown };
  if (typeof e.reason === 'string') return e.reason;
  return e.message;
}

function timedOut<T>(ms: number): Outcome<T> {
  return { ok: false, error: `no answer within ${ms / 1000}s`, timedOut: true };
}

/**
 * One TLS handshake offering only `version`. Verification is recorded, not enforced, on this one
 * socket (nothing is sent over it), so a bad chain is reported as such instead of hiding the
 * handshake result; the HTTP probes below verify as any client would.
 */
export function handshake(dial: Dial, port: number, version: SecureVersion): Promise<Outcome<Handshake>> {
  return new Promise((resolve) => {
    let socket: TLSSocket;
    try {
      socket = tlsConnect({
        host: dial.address, port, ...sni(dial.name), minVersion: version, maxVersion: version,
        ALPNProtocols: ['http/1.1'], rejectUnauthorized: false, ...(dial.ca === undefined ? {} : { ca: dial.ca }),
      });
    } catch (err) { // options Node refuses up front (a malformed --ca)
      resolve({ ok: false, error: describe(err), timedOut: false });
      return;
    }
    const timer = setTimeout(() => { socket.destroy(); resolve(timedOut(dial.timeoutMs)); }, dial.timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const certificate = socket.getPeerCertificate(false);
      const nameError = checkServerIdentity(dial.name, certificate);
      const authError = socket.authorizationError as Error | string | null | undefined;
      resolve({
        ok: true,
        value: {
          protocol: socket.getProtocol() ?? 'unknown', cipher: socket.getCipher().standardName, certificate,
          trusted: socket.authorized,
          trustError: authError === null || authError === undefined ? undefined : String(authError),
          nameError: nameError === undefined ? undefined : nameError.message,
        },
      });
      socket.end();
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok: false, error: describe(err), timedOut: false });
    });
  });
}

export interface Ask {
  readonly secure: boolean;
  readonly port: number;
  readonly path: string;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * One GET, reading only the status line and headers. A `101` (to an Upgrade request) is an
 * answer like any other: the socket is closed at once, nothing is tunnelled.
 */
export function ask(dial: Dial, q: Ask): Promise<Outcome<Answer>> {
  return new Promise((resolve) => {
    const common = { host: dial.address, port: q.port, path: q.path, method: 'GET', headers: q.headers, agent: false } as const;
    let req: ClientRequest;
    try {
      req = q.secure
        ? httpsRequest({
          ...common, ...sni(dial.name), ...(dial.ca === undefined ? {} : { ca: dial.ca }),
          checkServerIdentity: (_host: string, cert: PeerCertificate) => checkServerIdentity(dial.name, cert),
        })
        : httpRequest(common);
    } catch (err) { // options Node refuses up front (a malformed --ca, a bad address)
      resolve({ ok: false, error: describe(err), timedOut: false });
      return;
    }
    let settled = false;
    const settle = (outcome: Outcome<Answer>): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(outcome);
      req.destroy();
    };
    const timer = setTimeout(() => settle(timedOut(dial.timeoutMs)), dial.timeoutMs);
    req.once('response', (res) => {
      res.on('error', () => undefined);
      settle({ ok: true, value: { status: res.statusCode ?? 0, headers: res.headers, rawHeaders: res.rawHeaders } });
      res.destroy();
    });
    req.once('upgrade', (res, socket) => {
      socket.destroy();
      settle({ ok: true, value: { status: res.statusCode ?? 101, headers: res.headers, rawHeaders: res.rawHeaders } });
    });
    req.on('error', (err) => settle({ ok: false, error: describe(err), timedOut: false }));
    req.end();
  });
}
