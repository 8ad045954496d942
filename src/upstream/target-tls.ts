import { isIP } from 'node:net';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { TargetConfig } from '../config/types.js';

export interface TargetTlsOptions {
  readonly servername?: string;
  readonly secureContext?: SecureContext;
}

/**
 * TLS client options for an https target: SNI and the name checked (the configured servername,
 * else the host when it is a name; an IP host is checked against the certificate's IP SANs) and
 * what is trusted (the configured CA file, else Node's store, which NODE_EXTRA_CA_CERTS extends).
 * Built once per target at load, so a new upstream connection does not re-parse the CA.
 */
export function targetTls(config: TargetConfig): TargetTlsOptions {
  const servername = config.tls?.servername ?? (isIP(config.host) === 0 ? config.host : undefined);
  const ca = config.tls?.ca ?? null;
  return {
    ...(servername === undefined ? {} : { servername }),
    ...(ca === null ? {} : { secureContext: createSecureContext({ ca }) }),
  };
}
