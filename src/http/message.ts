import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import { H2Request, H2Response } from './h2-exchange.js';

/** A client request as the pipeline sees it: HTTP/1.1 from http.Server, h2 from the core stream API (h2-exchange.ts). */
export type ClientRequest = IncomingMessage | H2Request;
export type ClientResponse = ServerResponse | H2Response;

/** The `protocol` field of logs and the metrics label. */
export type Protocol = 'http/1.1' | 'h2';

export function protocolOf(req: ClientRequest): Protocol {
  return req.httpVersionMajor === 2 ? 'h2' : 'http/1.1';
}

/** An h2 response: no status text, no connection-level headers (RFC 9113 §8.2.2), streams end instead of connections. */
export function isH2(res: ClientResponse): res is H2Response {
  return res instanceof H2Response;
}

/** Where the request body arrives: the message on HTTP/1.1, the stream's DATA frames on h2. */
export function bodyOf(req: ClientRequest): Readable {
  return req instanceof H2Request ? req.stream : req;
}

/**
 * The headers an h2 request goes upstream with as HTTP/1.1: pseudo-header fields dropped and
 * Host taken from :authority (RFC 9113 §8.3.1: it replaces Host). Node already joined split
 * Cookie fields with "; " (§8.2.3).
 *
 * The names are walked in the raw list (an array) and each value read from Node's merged
 * object: a for-in over that object (null-prototype, so V8 keeps it as a dictionary) is
 * enumerated in V8's runtime, ~0.5 % of an h2 request. The object made is the same: every name
 * of the merged object is in the raw list (Node built it from that list), a repeated name is
 * stored again with the same value, and the order of its keys is the order of first arrival,
 * which is the merged object's own (integer-like names come first in any object's key order).
 */
export function upstreamHeaders(req: H2Request): IncomingHttpHeaders {
  const source = req.headers;
  const raw = req.rawHeaders;
  const authority = source[':authority'];
  const out: IncomingHttpHeaders = {};
  const replaced = typeof authority === 'string';
  if (replaced) out.host = authority;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.charCodeAt(0) === 58 /* ':' */ || (replaced && name === 'host')) continue;
    out[name] = source[name];
  }
  return out;
}

/**
 * The response went out whole. A reset h2 stream reports writableFinished too, so its
 * RST_STREAM code is what tells (RFC 9113 §8.1: a complete exchange closes with NO_ERROR).
 */
export function responseComplete(res: ClientResponse): boolean {
  return res.writableFinished && (!isH2(res) || res.stream.rstCode === 0);
}

/** An h2 response has no `destroyed` of its own: its stream's is the truth. */
export function responseGone(res: ClientResponse): boolean {
  return isH2(res) ? res.stream.destroyed : res.destroyed;
}

/** Raw header pairs as the header object h2's writeHead takes; repeated names become arrays (Set-Cookie). */
export function headerObject(pairs: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < pairs.length; i += 2) addField(out, (pairs[i] as string).toLowerCase(), pairs[i + 1] as string);
  return out;
}

/** Positions of an answer's field list whose lower-case names are remembered (FieldNames). */
const REMEMBERED = 32;

/**
 * headerObject for proxied h2 answers, with the lower-case names of the answers before it
 * remembered by position: an upstream sends the same names in the same order answer after
 * answer. A fresh name (a slice of the head just read) costs a toLowerCase and, as a key, a
 * look-up in V8's string table on every store (~0.8 % of an h2 request); a name that matches the
 * one remembered at its position (compared without case, the bytes only) reuses that key, which
 * V8 already holds. What is kept is a key V8 internalized (a slice of a head used as a key is
 * made to point at V8's own copy), at most REMEMBERED of them per edge.
 */
export class FieldNames {
  readonly #lower: string[] = [];

  object(pairs: readonly string[]): Record<string, string | string[]> {
    const out: Record<string, string | string[]> = {};
    const remembered = this.#lower;
    for (let i = 0; i < pairs.length; i += 2) {
      const name = pairs[i] as string;
      const at = i >> 1;
      const known = remembered[at];
      let lower: string;
      if (known !== undefined && sameName(name, known)) {
        lower = known;
      } else {
        lower = name.toLowerCase();
        if (at < REMEMBERED) remembered[at] = lower;
      }
      addField(out, lower, pairs[i + 1] as string);
    }
    return out;
  }
}

/** `name` is `lower` but for the case of its ASCII letters (field names are tokens: RFC 9110 §5.1). */
function sameName(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== lower.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * `value` as one more field `name` (lower-case): a second value makes the entry an array. The
 * object keeps its prototype (Node's respond() copies it with for-in, which a prototype-less
 * dictionary object slows), so a name Object.prototype has (`constructor`, `__proto__`,
 * `toString`) is defined as an own field, never read as an earlier value: read as one, it made
 * the h2 answer a 502 where HTTP/1.1 relayed the field.
 */
function addField(fields: Record<string, string | string[]>, name: string, value: string): void {
  const seen = fields[name];
  if (seen === undefined) fields[name] = value;
  else if (typeof seen === 'string') fields[name] = [seen, value];
  else if (Array.isArray(seen)) seen.push(value);
  // An inherited member (no Object.prototype member is an array): made an own field.
  else Object.defineProperty(fields, name, { value, writable: true, enumerable: true, configurable: true });
}

/**
 * The first value of `name` (lower-case) in a flat [name, value, …] list, names compared without
 * case (RFC 9110 §5.1); undefined when absent. The one loop over raw pairs for a single field.
 */
export function rawHeader(pairs: readonly string[], name: string): string | undefined {
  for (let i = 0; i < pairs.length; i += 2) {
    const field = pairs[i] as string;
    if (field.length === name.length && field.toLowerCase() === name) return pairs[i + 1] as string;
  }
  return undefined;
}
