import type { IncomingHttpHeaders } from 'node:http';

/**
 * Set on every access line's fields ("request"): the request's headers, which the combined
 * format reads Referer, User-Agent and the Basic user from. A symbol key: pino's JSON never
 * serialises it, so `log.access: json` pays one property per request and writes nothing more.
 */
export const REQUEST_HEADERS = Symbol('request headers');

/** The fields of an access line as the pipeline logs them (pipeline/request.ts, files.ts, guard/doors.ts, listeners/h2.ts). */
interface AccessFields {
  readonly method?: unknown;
  readonly protocol?: unknown;
  readonly path?: unknown;
  readonly status?: unknown;
  readonly clientIp?: unknown;
  readonly bytes?: unknown;
  readonly [REQUEST_HEADERS]?: IncomingHttpHeaders;
}

/**
 * A string JSON writes as it is, between quotes: printable ASCII but the quote and the backslash.
 * Anything else (controls, non-ASCII, lone surrogates) goes through JSON.stringify, so the bytes
 * are the same either way; the test is cheaper than the generic escape for a line's short values.
 */
const PLAIN = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** A string as JSON (and pino) writes it. */
export function jsonString(v: string): string {
  return PLAIN.test(v) ? `"${v}"` : JSON.stringify(v);
}

/** A number as JSON (and pino) writes it: NaN and the infinities as null. */
export function jsonNumber(v: number): string {
  return Number.isFinite(v) ? String(v) : 'null';
}

/**
 * An access line as JSON: the bytes pino writes for `log.info(fields, 'request')` (level, time,
 * the logger's bindings, the fields in their order, `msg`), built directly. pino's generic path
 * looks up serializers and stringifiers and escapes every key on every line; an access line has
 * a dozen fields of a few known names and plain values, so each key's `,"key":` is made once and
 * each value is one typeof. Returns undefined for a value pino would serialise as an object
 * (none of the pipeline's access fields is one): the caller lets pino write that line.
 */
export function jsonAccessFormatter(): (level: number, time: string, bindings: string, fields: object) => string | undefined {
  const keys = new Map<string, string>();
  return (level, time, bindings, fields) => {
    let line = `{"level":${level}${time}${bindings}`;
    for (const key in fields) {
      const v = (fields as Record<string, unknown>)[key];
      let json: string;
      switch (typeof v) {
        case 'string':
          json = jsonString(v);
          break;
        case 'number':
          json = jsonNumber(v);
          break;
        case 'boolean':
          json = v ? 'true' : 'false';
          break;
        case 'undefined':
        case 'function':
          continue;
        default:
          if (v !== null) return undefined;
          json = 'null';
      }
      let prefix = keys.get(key);
      if (prefix === undefined) {
        prefix = `,${JSON.stringify(key)}:`;
        keys.set(key, prefix);
      }
      line += prefix + json;
    }
    return `${line},"msg":"request"}\n`;
  };
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/**
 * nginx's `combined` line:
 *   $remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
 * The local time is formatted once per second, as nginx caches it.
 */
export function combinedFormatter(): (fields: AccessFields) => string {
  const line = combinedLine();
  return (f) => line(f.clientIp, f.method, f.path, f.protocol, f.status, f.bytes, f[REQUEST_HEADERS]);
}

/** combinedFormatter's line from the values themselves (access-line.ts hands a proxied request's over without a fields object). */
export function combinedLine(): (clientIp: unknown, method: unknown, path: unknown, protocol: unknown, status: unknown, bytes: unknown, headers: IncomingHttpHeaders | undefined) => string {
  let second = -1;
  let stamp = '';
  return (clientIp, method, path, protocol, status, bytes, headers) => {
    const now = Date.now();
    const s = Math.floor(now / 1000);
    if (s !== second) {
      second = s;
      stamp = timeLocal(new Date(now));
    }
    const request = method === undefined ? '-' : `${text(method)} ${text(path)} ${httpVersion(protocol)}`;
    return `${text(clientIp)} - ${basicUser(headers?.authorization)} [${stamp}] "${request}" ${num(status)} ${num(bytes)} "${text(headers?.referer)}" "${text(headers?.['user-agent'])}"\n`;
  };
}

/** `06/Dec/2026:23:50:00 +0100` in the process's time zone (TZ), like nginx's $time_local. */
export function timeLocal(d: Date): string {
  const offset = -d.getTimezoneOffset();
  const abs = Math.abs(offset);
  const zone = `${offset < 0 ? '-' : '+'}${two(Math.floor(abs / 60))}${two(abs % 60)}`;
  return `${two(d.getDate())}/${MONTHS[d.getMonth()] as string}/${d.getFullYear()}:${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())} ${zone}`;
}

function two(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** "HTTP/2.0" as nginx writes h2's $server_protocol; HTTP/1.x as the request line said. */
function httpVersion(protocol: unknown): string {
  if (protocol === 'h2') return 'HTTP/2.0';
  return typeof protocol === 'string' && protocol.startsWith('http/') ? `HTTP/${protocol.slice(5)}` : 'HTTP/1.1';
}

/** $remote_user: the user name of a Basic Authorization header (RFC 7617 §2), whether or not it was admitted; else "-". */
function basicUser(authorization: string | undefined): string {
  if (authorization === undefined || authorization.length < 7 || authorization.slice(0, 6).toLowerCase() !== 'basic ') return '-';
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('latin1');
  const colon = decoded.indexOf(':');
  return colon <= 0 ? '-' : text(decoded.slice(0, colon));
}

function num(v: unknown): string {
  return typeof v === 'number' && Number.isFinite(v) ? String(v) : '0';
}

/**
 * A variable as nginx writes it into a log: "-" when empty; `"`, `\`, control bytes and bytes
 * above 0x7e as \xHH (nginx 1.1.6+), so a client cannot forge a line or a field boundary.
 */
function text(v: unknown): string {
  if (typeof v !== 'string' || v === '') return '-';
  // eslint-disable-next-line no-control-regex -- control bytes are exactly what is escaped
  if (!/[\x00-\x1f"\\\x7f-\uffff]/.test(v)) return v;
  let out = '';
  // Node holds header values and request-targets as latin1: one char per byte received.
  for (const byte of Buffer.from(v, 'latin1')) {
    out += byte < 0x20 || byte === 0x22 || byte === 0x5c || byte > 0x7e ? `\\x${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}
