import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1 and the legacy names proxies still see. */
const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade',
];

// Names a Connection header may not remove: the request would change meaning, not just lose a hop.
const PROTECTED = new Set(['host', 'content-length']);

/** Remove hop-by-hop headers and every header the message's own Connection names (both directions). */
export function stripHopByHop(headers: IncomingHttpHeaders | OutgoingHttpHeaders): void {
  const connection = headers.connection;
  if (typeof connection === 'string') {
    for (const token of connection.split(',')) {
      const name = token.trim().toLowerCase();
      if (name !== '' && !PROTECTED.has(name)) delete headers[name];
    }
  }
  for (const name of HOP_BY_HOP) delete headers[name];
}
