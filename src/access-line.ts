import type { IncomingHttpHeaders } from 'node:http';
import { pino, type DestinationStream, type Logger } from 'pino';
import { combinedLine, jsonNumber, jsonString } from './access-log.js';

/** What a proxied request's access line reads from its exchange (proxy/forward.ts `Exchange` has each). */
export interface ExchangeFacts {
  readonly method: string;
  readonly protocol: string;
  readonly host: string;
  readonly clientPath: string;
  readonly clientIp: string;
  readonly bytes: number;
  readonly requestId: string | undefined;
  readonly headers: IncomingHttpHeaders;
}

/** Why Gatehouse answered instead of the upstream (an EdgeError): the line's `err` and `code`. */
export interface LineError {
  readonly message: string;
  readonly code: string;
}

/**
 * Writes a proxied request's access line (pipeline/request.ts logExchange) from its values.
 * Returns false when the line is pino's to write: under `log.format: pretty` (pino-pretty prints
 * it), or for a value not of its declared type (none today); the caller then logs the same fields
 * through pino, whose access hook (log.ts) writes the line as it always has.
 */
export type ExchangeLineWriter = (facts: ExchangeFacts, status: number, durationMs: number, target: string | null, aborted: boolean, error: LineError | undefined) => boolean;

/**
 * The writer for this config, decided once at load. pino's `log.info(fields, 'request')` costs a
 * fields object, its level check and hook call, and the generic formatter's walk over the
 * object's keys (access-log.ts jsonAccessFormatter); a proxied request's line always has the
 * same keys in the same order, so here each key is a literal and each value one check. The
 * bytes are the formatter's (and so pino's): the level and the logger's bindings read from
 * pino once, the time from the logger's own clock (log.ts isoTimeOncePerMs), and the line goes
 * to the same stream (log-batch.ts) pino's other lines go to, so nothing is reordered or lost.
 */
export function exchangeLineWriter(access: 'json' | 'combined', out: DestinationStream | undefined, log: Logger, time: () => string): ExchangeLineWriter {
  if (out === undefined) return () => false;
  // A level above info (log.level: warn …) writes no access line; the level is fixed at load.
  if (!log.isLevelEnabled('info')) return () => true;
  if (access === 'combined') {
    const line = combinedLine();
    return (x, status) => {
      out.write(line(x.clientIp, x.method, x.clientPath, x.protocol, status, x.bytes, x.headers));
      return true;
    };
  }
  const open = `{"level":${log.levels.values.info}`;
  const bindings = `${(log as unknown as Record<symbol, string | undefined>)[pino.symbols.chindingsSym] ?? ''},"method":`;
  return (x, status, durationMs, target, aborted, error) => {
    const { method, protocol, host, clientPath, clientIp, bytes, requestId } = x;
    if (!(typeof method === 'string' && typeof protocol === 'string' && typeof host === 'string' && typeof clientPath === 'string' && typeof clientIp === 'string')) return false;
    if (!(typeof status === 'number' && typeof durationMs === 'number' && typeof bytes === 'number')) return false;
    if (!(target === null || typeof target === 'string') || !(requestId === undefined || typeof requestId === 'string')) return false;
    if (error !== undefined && !(typeof error.message === 'string' && typeof error.code === 'string')) return false;
    out.write(
      `${open}${time()}${bindings}${jsonString(method)},"protocol":${jsonString(protocol)},"host":${jsonString(host)},"path":${jsonString(clientPath)}` +
        `,"status":${jsonNumber(status)},"durationMs":${hundredths(durationMs)},"clientIp":${jsonString(clientIp)},"target":${target === null ? 'null' : jsonString(target)},"bytes":${jsonNumber(bytes)}` +
        `${aborted ? ',"aborted":true' : ''}${error === undefined ? '' : `,"err":${jsonString(error.message)},"code":${jsonString(error.code)}`}` +
        `${requestId === undefined ? '' : `,"requestId":${jsonString(requestId)}`},"msg":"request"}\n`,
    );
    return true;
  };
}

/**
 * A duration rounded to hundredths (logExchange's `round`) as JSON writes it: the digits made
 * from integers, since a fractional double's shortest form (String(1.25)) costs several times an
 * integer's. Exactly String(v) for such a value below 1e13 (there a double's spacing is far under
 * 0.01, so no shorter decimal names the same double); any other value goes to jsonNumber.
 */
export function hundredths(v: number): string {
  const k = Math.round(v * 100);
  if (!(k >= 0 && k < 1e15 && k / 100 === v)) return jsonNumber(v);
  const whole = Math.floor(k / 100);
  const cents = k - whole * 100;
  if (cents === 0) return `${whole}`;
  if (cents % 10 === 0) return `${whole}.${cents / 10}`;
  return `${whole}.${cents < 10 ? '0' : ''}${cents}`;
}
