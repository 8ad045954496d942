import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EdgeError } from '../errors.js';
import { headerObject, isH2, type ClientResponse } from './message.js';

/**
 * The reason phrase of a status line Gatehouse writes raw: Node's table, with RFC 9110's name
 * for 413 (§15.5.14 renamed "Payload Too Large"; Node keeps the old one). Built once.
 */
const PHRASES: Readonly<Record<number, string>> = Object.freeze({ ...STATUS_CODES, 413: 'Content Too Large' });

/** `status`'s reason phrase; `fallback` for a status no table names. */
export function reasonPhrase(status: number, fallback = 'Error'): string {
  return PHRASES[status] ?? fallback;
}

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
 * A refusal or failure Gatehouse answers itself, its status from the error's code (errors.ts):
 * short plain-text body (`body`, the table's text unless the refusal says more), HSTS when on
 * HTTPS (`hsts` non-null), and `Connection: close` when the connection cannot be trusted any further — on h2,
 * where the connection is not in question, the stream is closed instead (RFC 9113 §8.1: a
 * response may end the exchange before the request body did). `ruled`: the header rules of
 * the route (or site) it answers for, applied over these fields.
 */
export function respond(res: ClientResponse, error: EdgeError, hsts: string | null, body: string = error.text, close = false, ruled: FieldRules | null = null): void {
  writePlain(res, error.status, hsts, body, close, ruled);
}

/**
 * The same plain-text answer for a status that is not Gatehouse's refusal: an upstream's or an
 * auth service's own status whose body could not be given (an unreadable error page).
 */
export function writePlain(res: ClientResponse, status: number, hsts: string | null, body: string, close = false, ruled: FieldRules | null = null): void {
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
export function respondRaw(socket: Duplex, error: EdgeError, hsts: string | null, body: string = error.text, extra = ''): void {
  const status = error.status;
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  const text = `${body}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${reasonPhrase(status)}\r\n` +
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
