import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { close, closeSync, createReadStream, readSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { contentType } from 'mime-types';
import { basename } from 'node:path';
import type { EdgeErrorCode } from '../errors.js';
import { Encoder } from '../compress/encoder.js';
import { decide, weakened, type Offer } from '../compress/policy.js';
import type { H2Response } from '../http/h2-exchange.js';
import { evaluatePreconditions, requestedRange, validatorsOf } from './conditional.js';
import type { FoundFile } from './lookup.js';
import { sendLarge } from './send-large.js';

export interface SendContext {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  /** The route serves precompressed siblings: every answer varies on Accept-Encoding. */
  readonly precompressed: boolean;
  /** Overrides the media type the file name gives (an X-Accel-Redirect upstream's Content-Type). */
  readonly contentType?: string;
  /** On-the-fly compression allowed by the route's `compress`, when it has one. */
  readonly offer: Offer | undefined;
  /** The Cache-Control the route's header rules give a 200: its `no-transform` forbids compressing (RFC 9110 §7.7). */
  readonly cacheControl?: string | undefined;
  /** The route's header rules, run on the answer's fields just before they are sent (README "Header rules"); undefined: none. */
  readonly rule?: ((res: Response, status: number) => void) | undefined;
}

export type SendResult =
  | { readonly status: number; readonly bytes: number; readonly aborted: boolean }
  | { readonly refuse: EdgeErrorCode; readonly headers: Readonly<Record<string, string>> };

type Response = ServerResponse | H2Response;

const OCTET = 'application/octet-stream';
/** Files up to this size are read whole and written at once (h1; h2 has respondWithFD for all). */
const SMALL = 64 * 1024;

/**
 * Writes a found file (README "Serving files"): validators and 304/412 (RFC 9110 §13), one range → 206 or
 * 416 (§14), HEAD without a body, on-the-fly compression when the route asks and no range was.
 * The body streams with backpressure; the descriptor is closed on every path, including a client
 * that leaves mid-file (pipeline() destroys the read stream, which closes it; on h2 the stream's
 * close does).
 */
export async function sendFile(res: Response, h2: H2Response | undefined, file: FoundFile, ctx: SendContext): Promise<SendResult> {
  const { stat } = file;
  const v = validatorsOf(stat.size, stat.mtimeMs);
  const type = ctx.contentType ?? (contentType(basename(file.name)) || OCTET);
  const vary = ctx.precompressed || ctx.offer !== undefined;
  const common: Record<string, string> = { 'last-modified': v.lastModified, etag: v.etag };
  if (file.coding !== undefined) common['content-encoding'] = file.coding;
  const pre = evaluatePreconditions(ctx.headers, v);
  if (pre === 'failed') {
    closeSync(file.fd);
    return { refuse: 'EDGE_ERR_PRECONDITION_FAILED', headers: {} };
  }
  // The coding decided first: a compressed answer's validators are weak, and a 304 must carry
  // the validator the client would have got (RFC 9110 §15.4.5).
  const range = ctx.headers.range === undefined || ctx.method !== 'GET' ? undefined : requestedRange(ctx.headers, stat.size, v);
  const decision = ctx.offer === undefined || file.coding !== undefined
    ? undefined
    : decide(ctx.offer, range === undefined ? 200 : 206, (n) => (n === 'content-type' ? type : n === 'content-length' ? String(stat.size) : n === 'cache-control' ? ctx.cacheControl : undefined), false);
  const coding = decision?.coding;
  if (coding !== undefined) {
    common.etag = weakened(v.etag);
    common['content-encoding'] = coding;
  }
  if (vary || decision?.vary === true) common.vary = 'Accept-Encoding';
  if (pre === 'not-modified') {
    closeSync(file.fd);
    endWithoutBody(res, 304, common, ctx);
    return { status: 304, bytes: 0, aborted: false };
  }
  if (range === 'unsatisfiable') {
    closeSync(file.fd);
    return { refuse: 'EDGE_ERR_RANGE_NOT_SATISFIABLE', headers: { 'content-range': `bytes */${stat.size}` } };
  }
  const fields: Record<string, string> = { ...common, 'content-type': type };
  if (coding === undefined) fields['accept-ranges'] = 'bytes';
  const start = range?.start ?? 0;
  const end = range?.end ?? stat.size - 1;
  const length = end - start + 1;
  const status = range === undefined ? 200 : 206;
  if (range !== undefined) fields['content-range'] = `bytes ${start}-${end}/${stat.size}`;
  if (coding === undefined) fields['content-length'] = String(length);
  if (ctx.method === 'HEAD' || length === 0) {
    closeSync(file.fd);
    endWithoutBody(res, status, fields, ctx);
    return { status, bytes: 0, aborted: false };
  }
  if (h2 !== undefined && coding === undefined) return sendFd(h2, file, status, fields, start, length, ctx);
  if (h2 === undefined && coding === undefined && length <= SMALL) return sendSmall(res, file, status, fields, start, length, ctx);
  writeHead(res, status, fields, ctx);
  if (h2 === undefined && coding === undefined) return { status, ...(await sendLarge(res as ServerResponse, file.fd, start, length)) };
  // The stream owns the descriptor from here (autoClose): closed at its end or when destroyed.
  const source = createReadStream('', { fd: file.fd, start, end, highWaterMark: 64 * 1024 });
  if (coding === undefined) {
    try {
      await pipeline(source, h2 === undefined ? (res as ServerResponse) : h2.stream);
      return { status, bytes: length, aborted: false };
    } catch {
      return { status, bytes: source.bytesRead, aborted: true };
    }
  }
  return encode(res, source, coding, status, stat.size);
}

/**
 * Up to SMALL bytes: one synchronous read into one buffer (as nginx reads: a page-cache copy
 * of ≤ 64 KB costs less than one thread-pool round trip), descriptor closed, head and body in
 * one write — no stream, no pipeline, no AbortSignal per answer.
 */
function sendSmall(res: Response, file: FoundFile, status: number, fields: Record<string, string>, start: number, length: number, ctx: SendContext): SendResult {
  const body = Buffer.allocUnsafe(length);
  let got = 0;
  try {
    while (got < length) {
      const bytesRead = readSync(file.fd, body, got, length - got, start + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
  } finally {
    closeSync(file.fd);
  }
  // A file that shrank while it was read: the length promised cannot be kept.
  if (got < length) {
    res.destroy();
    return { status, bytes: got, aborted: true };
  }
  setFields(res, status, fields, ctx);
  res.statusCode = status;
  res.end(body);
  return { status, bytes: length, aborted: false };
}

/** h2: nghttp2 reads the file itself (respondWithFD): no JS buffer per DATA frame. */
function sendFd(h2: H2Response, file: FoundFile, status: number, fields: Record<string, string>, offset: number, length: number, ctx: SendContext): Promise<SendResult> {
  return new Promise((resolve) => {
    const stream = h2.stream;
    if (stream.destroyed || stream.closed) {
      close(file.fd, () => undefined);
      resolve({ status, bytes: 0, aborted: true });
      return;
    }
    stream.once('close', () => {
      close(file.fd, () => undefined);
      const aborted = stream.rstCode !== 0;
      resolve({ status, bytes: aborted ? 0 : length, aborted });
    });
    setFields(h2, status, fields, ctx);
    h2.respondWithFD(status, {}, file.fd, offset, length);
  });
}

function encode(res: Response, source: NodeJS.ReadableStream & { destroy(): void; bytesRead: number }, coding: NonNullable<Offer['coding']>, status: number, size: number): Promise<SendResult> {
  return new Promise((resolve) => {
    let settled = false;
    const encoder = new Encoder(coding, res, size);
    const finish = (aborted: boolean): void => {
      if (settled) return;
      settled = true;
      if (aborted) {
        source.destroy();
        encoder.destroy();
      }
      resolve({ status, bytes: encoder.bytes, aborted });
    };
    res.once('close', () => finish(!res.writableFinished));
    source.on('data', (chunk: Buffer) => {
      if (!encoder.write(chunk, () => source.resume())) source.pause();
    });
    source.on('end', () => encoder.end());
    source.on('error', () => {
      finish(true);
      res.destroy();
    });
  });
}

/** Headers only: HEAD, 304, an empty file (h2 ends the stream in the HEADERS frame). */
function endWithoutBody(res: Response, status: number, fields: Record<string, string>, ctx: SendContext): void {
  setFields(res, status, fields, ctx);
  res.statusCode = status;
  res.end();
}

function writeHead(res: Response, status: number, fields: Record<string, string>, ctx: SendContext): void {
  setFields(res, status, fields, ctx);
  res.writeHead(status);
}

/** The file's fields on the response, then the route's rules over them (a rule's `set` wins). */
function setFields(res: Response, status: number, fields: Record<string, string>, ctx: SendContext): void {
  for (const name in fields) res.setHeader(name, fields[name] as string);
  ctx.rule?.(res, status);
}
