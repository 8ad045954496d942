import { pino, type DestinationStream, type Logger, type LoggerOptions } from 'pino';
import pretty from 'pino-pretty';
import { combinedFormatter, jsonAccessFormatter } from './access-log.js';
import { exchangeLineWriter, type ExchangeLineWriter } from './access-line.js';
import type { LogConfig } from './config/types.js';
import { FdSink, LineBatch } from './log-batch.js';

export type { Logger };

/** The root logger, and the writer of proxied requests' access lines to the same stream (access-line.ts). */
export interface Logging {
  readonly log: Logger;
  readonly exchangeLine: ExchangeLineWriter;
}

/** The root logger alone (the cluster's primary, tools): see createLogging. */
export function createLogger(config: LogConfig, destination?: DestinationStream): Logger {
  return createLogging(config, destination).log;
}

/**
 * The root logger. JSON goes to stdout in batches (log-batch.ts), so a request's line is not a
 * write of its own, and without blocking, so a slow stdout never stalls the request path;
 * `pretty` is for humans at a terminal. `destination` is for tests.
 */
export function createLogging(config: LogConfig, destination?: DestinationStream): Logging {
  const out = destination ?? (config.format === 'pretty' && config.access === 'json' ? undefined : stdoutLines());
  const time = isoTimeOncePerMs();
  const options: LoggerOptions = { level: config.level, base: { pid: process.pid }, timestamp: time };
  if (out !== undefined) options.hooks = { logMethod: config.access === 'combined' ? combinedAccess(out) : jsonAccess(out, time) };
  let log: Logger;
  if (destination !== undefined) log = pino(options, destination);
  else if (config.format === 'pretty') log = pino(options, pretty({ colorize: process.stdout.isTTY, sync: true, singleLine: true }));
  else log = pino(options, out ?? stdoutLines());
  return { log, exchangeLine: exchangeLineWriter(config.access, out, log, time) };
}

function stdoutLines(): LineBatch {
  return new LineBatch(new FdSink(1));
}

type LogMethodHook = NonNullable<NonNullable<LoggerOptions['hooks']>['logMethod']>;

/**
 * `log.access: combined`, decided here once: access lines ("request") become nginx combined
 * lines on the same stream; every other event stays as `log.format` writes it. Level filtering
 * still applies (pino skips disabled levels before any hook).
 */
function combinedAccess(out: DestinationStream): LogMethodHook {
  const format = combinedFormatter();
  return function logMethod(this: Logger, args, method) {
    const [fields, message] = args as unknown[];
    if (message === 'request' && typeof fields === 'object' && fields !== null) {
      out.write(format(fields));
      return;
    }
    method.apply(this, args);
  };
}

/**
 * `log.access: json` (the default): access lines ("request") are built by jsonAccessFormatter,
 * the same bytes pino would write, and go straight to the stream; every other event is pino's.
 */
function jsonAccess(out: DestinationStream, time: () => string): LogMethodHook {
  const format = jsonAccessFormatter();
  return function logMethod(this: Logger, args, method, level) {
    const [fields, message] = args as unknown[];
    if (message === 'request' && args.length === 2 && typeof fields === 'object' && fields !== null) {
      const line = format(level, time(), (this as unknown as Record<symbol, string>)[pino.symbols.chindingsSym] ?? '', fields);
      if (line !== undefined) {
        out.write(line);
        return;
      }
    }
    method.apply(this, args);
  };
}

/**
 * pino's ISO timestamp, formatted once per millisecond rather than once per line (a busy edge logs
 * dozens per ms), and its date and time of day once per second: a new millisecond only appends
 * its three digits (no Date made and formatted per request). The same string as toISOString().
 */
export function isoTimeOncePerMs(clock: () => number = Date.now): () => string {
  let stampedAt = Number.NaN;
  let stamp = '';
  let second = Number.NaN;
  let prefix = '';
  return () => {
    const now = clock();
    if (now !== stampedAt) {
      stampedAt = now;
      const s = Math.floor(now / 1000);
      if (s !== second) {
        second = s;
        // "2026-12-07T06:30:00." (toISOString without "sssZ"; any year width).
        prefix = `,"time":"${new Date(s * 1000).toISOString().slice(0, -4)}`;
      }
      const ms = now - s * 1000;
      stamp = `${prefix}${ms < 10 ? '00' : ms < 100 ? '0' : ''}${ms}Z"`;
    }
    return stamp;
  };
}

/**
 * At most one line per `intervalMs` for noisy events (TLS handshake junk from scanners),
 * with a count of what was suppressed, so a flood cannot fill the disk.
 */
export function rateLimited(log: Logger, intervalMs: number): (fields: object, message: string) => void {
  let last = 0;
  let suppressed = 0;
  return (fields, message) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    log.warn({ ...fields, suppressed }, message);
    last = now;
    suppressed = 0;
  };
}

/**
 * Warnings that repeat per request for one cause (every request to an upstream with no healthy
 * target fails the same way): the first line at once, then one line per `intervalMs` with how
 * many more there were, while they last. Causes are code × upstream name, bounded by the config,
 * and a cause is forgotten after a quiet interval. Each request still has its own access line.
 */
export function rateLimitedByCause(log: Logger, intervalMs: number): (cause: string, fields: object, message: string) => void {
  const causes = new Map<string, { repeated: number; fields: object; message: string; timer: NodeJS.Timeout }>();
  const tick = (cause: string): void => {
    const entry = causes.get(cause);
    if (entry === undefined) return;
    if (entry.repeated === 0) {
      clearInterval(entry.timer);
      causes.delete(cause);
      return;
    }
    log.warn({ ...entry.fields, suppressed: entry.repeated, intervalMs }, `${entry.message} (repeated)`);
    entry.repeated = 0;
  };
  return (cause, fields, message) => {
    const entry = causes.get(cause);
    if (entry !== undefined) {
      entry.repeated++;
      entry.fields = fields;
      return;
    }
    log.warn({ ...fields, suppressed: 0 }, message);
    const timer = setInterval(() => tick(cause), intervalMs);
    timer.unref();
    causes.set(cause, { repeated: 0, fields, message, timer });
  };
}
