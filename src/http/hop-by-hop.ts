import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';

/** RFC 9110 §7.6.1, the legacy names proxies still see, and h2c's HTTP2-Settings (RFC 7540 §3.2.1: connection-specific). */
const HOP_BY_HOP = [
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization',
  'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings',
];

// Names a Connection header may not remove: the request would change meaning, not just lose a hop.
const PROTECTED = new Set(['host', 'content-length']);

const HOP_BY_HOP_SET = new Set([...HOP_BY_HOP, 'strict-transport-security']);

/**
 * An upstream response's raw header pairs as the client gets them: hop-by-hop names and those
 * its Connection header lists dropped, the upstream's HSTS replaced by the edge's policy (an
 * upstream's max-age=0 must not switch it off), `Connection: close` added while draining.
 * A 1xx or 204 loses its Content-Length (RFC 9110 §8.6: a server MUST NOT send one; Transfer-
 * Encoding is hop-by-hop and never relayed): a client that believed it would read the next
 * response as this one's body. A 304 or a HEAD answer keeps the length a GET would have had.
 */
export function responseHeaders(raw: readonly string[], connectionTokens: readonly string[], hsts: string | null, close: boolean, status: number): string[] {
  const out: string[] = [];
  const bodiless = status < 200 || status === 204;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    // Names are compared in place, case folded: no lower-cased copy and no hash per field.
    const known = answerFieldOf(name);
    if (known !== undefined && (known !== 'content-length' || bodiless)) continue;
    if (connectionTokens.length > 0 && listedIn(connectionTokens, name)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (hsts !== null) out.push('strict-transport-security', hsts);
  if (close) out.push('connection', 'close');
  return out;
}

/** The names responseHeaders() drops (or, for Content-Length, may drop), by length: most fields' lengths match none. */
const ANSWER_FIELDS_BY_LENGTH: readonly (readonly string[] | undefined)[] = (() => {
  const byLength: string[][] = [];
  for (const name of [...HOP_BY_HOP_SET, 'content-length']) (byLength[name.length] ??= []).push(name);
  return byLength;
})();

/** The lower-case name `name` spells when it is one of ANSWER_FIELDS_BY_LENGTH's, else undefined. */
function answerFieldOf(name: string): string | undefined {
  const candidates = ANSWER_FIELDS_BY_LENGTH[name.length];
  if (candidates === undefined) return undefined;
  for (const candidate of candidates) if (sameFolded(name, candidate)) return candidate;
  return undefined;
}

/** The response's Connection lists `name` (its tokens are lower-case), and removing it would not change the message's meaning. */
function listedIn(tokens: readonly string[], name: string): boolean {
  for (const token of tokens) if (token.length === name.length && sameFolded(name, token) && !PROTECTED.has(token)) return true;
  return false;
}

/** `name` with ASCII A-Z folded equals `lower` (same length: the caller checked). Field names are tokens, ASCII only (RFC 9110 §5.1). */
function sameFolded(name: string, lower: string): boolean {
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * `delete headers[name]` when the name is there. Deleting an absent name changes nothing but
 * still costs V8 a runtime call, and a request is checked for 16 names that are almost never
 * sent (the hop-by-hop and forwarding ones): ~0.5 % of a proxied request's CPU.
 */
export function dropField(headers: IncomingHttpHeaders | OutgoingHttpHeaders, name: string): void {
  if (name in headers) delete headers[name];
}

/** Remove hop-by-hop headers and every header the message's own Connection names (both directions). */
export function stripHopByHop(headers: IncomingHttpHeaders | OutgoingHttpHeaders): void {
  dropConnectionListed(headers);
  for (const name of HOP_BY_HOP) dropField(headers, name);
}

/** Every header the message's own Connection names (RFC 9110 §7.6.1), but never Host or Content-Length. */
function dropConnectionListed(headers: IncomingHttpHeaders | OutgoingHttpHeaders): void {
  const connection = headers.connection;
  if (typeof connection !== 'string') return;
  for (const token of connection.split(',')) {
    const name = token.trim().toLowerCase();
    if (name !== '' && !PROTECTED.has(name)) delete headers[name];
  }
}

/**
 * A client's request headers as they may go upstream: hop-by-hop ones removed, and every name
 * containing "_" dropped (nginx's `underscores_in_headers off`). CGI-style backends (Rack, WSGI,
 * PHP) map both "X_Forwarded_For" and "X-Forwarded-For" to HTTP_X_FORWARDED_FOR, so an underscore
 * name would let a client forge the forwarding headers Gatehouse sets (the CVE-2024-45614 class).
 */
export function sanitiseClientHeaders(headers: IncomingHttpHeaders): void {
  dropConnectionListed(headers);
  // The fixed names are found in the one pass over what the client sent, not deleted one by one
  // whether present or not (a delete of an absent name is still a lookup).
  for (const name in headers) {
    if (name.includes('_') || HOP_BY_HOP_NAMES.has(name)) delete headers[name];
  }
}

const HOP_BY_HOP_NAMES = new Set(HOP_BY_HOP);
