import { createSecureContext, type SecureContext, type TLSSocket, type TlsOptions } from 'node:tls';
import type { ContextSettings } from '../cert-store.js';
import type { AcmeStorage } from './storage.js';

/** RFC 8555 §8.1: tokens are base64url; anything else cannot name a stored file. */
const TOKEN = /^[A-Za-z0-9_-]{1,256}$/;
/** RFC 8737 §6.2: the ALPN protocol ID an ACME validator offers, and only it. */
const ACME_TLS_ALPN = 'acme-tls/1';

/**
 * HTTP-01 (RFC 8555 §8.3): the key authorization for a token, read from storage on every
 * request, so the instance that ordered need not be the one the CA reaches.
 */
/** tls.acme's HTTP-01 responder: the key authorization stored for a token, if any (served by the :80 listener). */
export type AcmeChallenge = (token: string) => Promise<Buffer | undefined>;

export function httpChallengeResponder(storage: AcmeStorage): AcmeChallenge {
  return async (token) => (TOKEN.test(token) ? storage.read(storage.httpTokenPath(token)).catch(() => undefined) : undefined);
}

/** What :443 needs for TLS-ALPN-01: ALPN selection, and the challenge certificate for the sockets that asked for it. */
export interface AlpnChallengeHook {
  /** Replaces ALPNProtocols: server preference among `protocols`, or acme-tls/1 when the client offers it. */
  alpn(protocols: readonly string[]): Pick<TlsOptions, 'ALPNCallback'>;
  /** The challenge context for a socket that negotiated acme-tls/1; undefined for every other client. */
  context(socket: TLSSocket, servername: string): Promise<SecureContext> | undefined;
}

/**
 * TLS-ALPN-01 (RFC 8737 §3). OpenSSL runs the ALPN callback before the certificate callback
 * that drives Node's SNICallback, so the socket is marked when it offers acme-tls/1 and its
 * SNICallback then serves the stored challenge certificate instead of the real one. Normal
 * clients never offer acme-tls/1 and keep getting the real certificate.
 */
export function alpnChallengeResponder(storage: AcmeStorage, settings: ContextSettings): AlpnChallengeHook {
  const validators = new WeakSet<TLSSocket>();
  return {
    alpn(protocols) {
      return {
        ALPNCallback(this: TLSSocket, { protocols: offered }: { servername: string; protocols: string[] }) {
          if (offered.includes(ACME_TLS_ALPN)) {
            validators.add(this);
            return ACME_TLS_ALPN;
          }
          // No overlap: undefined makes Node send no_application_protocol, as ALPNProtocols would.
          return protocols.find((p) => offered.includes(p));
        },
      } as Pick<TlsOptions, 'ALPNCallback'>;
    },
    context(socket, servername) {
      if (!validators.has(socket)) return undefined;
      return (async () => {
        const name = servername.toLowerCase();
        if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(name)) throw new Error('acme-tls/1 without a usable server name');
        const pem = await storage.read(storage.alpnPath(name));
        if (pem === undefined) throw new Error(`no acme-tls/1 challenge pending for ${servername}`);
        return createSecureContext({ cert: pem, key: pem, minVersion: settings.minVersion, ciphers: settings.ciphers });
      })();
    },
  };
}
