/** The small value types the section readers (values.ts, files.ts, guard.ts) produce; types.ts re-exports them. */

export interface ListenAddress {
  /** undefined = all interfaces (Node's default, dual-stack). */
  readonly host: string | undefined;
  readonly port: number;
}

export interface TargetConfig {
  /** Normalised "scheme://host:port" or "unix:/abs/path": the identity that hashing, logs and metrics use. */
  readonly id: string;
  readonly protocol: 'http:' | 'https:';
  readonly host: string;
  readonly port: number;
  /** How an https target's certificate is checked (null: http, or the system trust store and the host name). */
  readonly tls: UpstreamTls | null;
  /** `unix:PATH` targets only: the absolute socket path connected to (host is then "localhost", port 0). */
  readonly socketPath?: string;
}

/** `upstreams.NAME.tls`: trust and name for https targets (nginx's proxy_ssl_trusted_certificate / proxy_ssl_name). */
export interface UpstreamTls {
  /** PEM of the CA certificate(s) trusted instead of the system store, read at load; null: system store. */
  readonly ca: string | null;
  /** Name sent as SNI and checked against the certificate; null: the target's host (when it is a name). */
  readonly servername: string | null;
}

export interface Cidr {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}
