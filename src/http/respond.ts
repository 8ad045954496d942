import type { Duplex } from 'node:stream';
import { REASONS } from '../errors.js';
import { headerObject, isH2, type ClientResponse } from './message.js';

/** The fields of a response not yet sent: an h1 ServerResponse or the h2 H2Response. */
export interface FieldSink {
  getHeader(name: string): number | string | readonly string[] | undefined;
  setHeader(name: string, value: string | readonly string[]): unknown;
  removeHeader(name: string): void;
}

/** Edits of a generated answer's fields before they go out: a route's header rules (pipeline/header-rules.ts). */
export interface FieldRules {
  rule(res: FieldSink, status: number): void;
}

/**
 * A response Gatehouse writes itself: short plain-text body, HSTS when on HTTPS (`hsts`
 * non-null), and `Connection: close` when the connection cannot be trusted any further — on h2,
 * where the connection is not in question, the stream is closed instead (RFC 9113 §8.1: a
 * response may end the exchange before the request body did). `ruled`: the header rules of
 * the route (or site) it answers for, applied over these fields.
 */
export function respond(res: ClientResponse, status: number, hsts: string | null, body: string, close = false, ruled: FieldRules | null = null): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const text = `${body}\n`;
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(text));
  res.setHeader('cache-control', 'no-store');
  if (hsts !== null) res.setHeader('strict-transport-security', hsts);
  if (ruled !== null) ruled.rule(res, status);
  if (!isH2(res)) {
    if (close) res.setHeader('connection', 'close');
    res.end(text);
  } else if (close) {
    const stream = res.stream;
    res.end(text, () => stream.close());
  } else {
    res.end(text);
  }
}

/**
 * The same, written straight to a socket that has no ServerResponse: parser errors
 * (clientError) and refused upgrades. Ends the socket after the bytes are flushed.
 */
export function respondRaw(socket: Duplex, status: number, hsts: string | null, body: string, extra = ''): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = `${body}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${REASONS[status] ?? 'Error'}\r\n` +
    'Content-Type: text/plain; charset=utf-8\r\n' +
    `Content-Length: ${Buffer.byteLength(text)}\r\n` +
    'Cache-Control: no-store\r\n' +
    (hsts === null ? '' : `Strict-Transport-Security: ${hsts}\r\n`) +
    extra +
    'Connection: close\r\n\r\n' + text,
  );
  // A peer that never reads must not pin the socket open.
  setTimeout(() => socket.destroy(), 5000).unref();
}

/**
 * A generated answer whose fields are a flat [name, value, …] list (so header rules can edit it
 * first): HSTS, framing and, when asked, `Connection: close` are the edge's and added here.
 */
export function respondWith(res: ClientResponse, status: number, pairs: string[], body: string | Buffer, hsts: string | null, close: boolean): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  pairs.push('content-length', String(Buffer.byteLength(body)));
  if (hsts !== null) pairs.push('strict-transport-security', hsts);
  res.statusCode = status;
  if (!isH2(res)) {
    if (close) pairs.push('connection', 'close');
    res.writeHead(status, pairs);
    res.end(body);
    return;
  }
  res.writeHead(status, headerObject(pairs));
  if (close) {
    const stream = res.stream;
    res.end(body, () => stream.close());
  } else {
    res.end(body);
  }
}
