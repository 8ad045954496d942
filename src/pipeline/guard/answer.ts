import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { EdgeError, ERRORS, type EdgeErrorCode } from '../../errors.js';
import { ruleResponse, type AnswerRules } from '../header-rules.js';
import type { ClientResponse } from '../../http/message.js';
import { reasonPhrase, respond, respondRaw } from '../../http/respond.js';

/** Why the guard stopped a request, and the answer that says so. */
export interface Denial {
  /** null: an auth service's own answer, relayed as it is (README "Access control"). */
  readonly code: EdgeErrorCode | null;
  readonly status: number;
  /** Body text of a generated answer, and the log's `reason`. */
  readonly reason: string;
  /** The config rule that refused: logged, so an operator finds it ("access.deny 10.9.0.0/16"). */
  readonly rule: string;
  readonly headers: readonly (readonly [string, string])[];
  /** A relayed answer's body. */
  readonly body?: Buffer;
}

export function denial(code: EdgeErrorCode, reason: string, rule: string, headers: readonly (readonly [string, string])[] = []): Denial {
  return { code, status: ERRORS[code].status, reason, rule, headers };
}

/** Fields of a relayed answer that describe its connection or framing, not the answer (RFC 9110 §7.6.1), plus HSTS, which is always ours. */
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'content-length', 'strict-transport-security']);

/** A generated denial as the error it is (a relayed one has a body and no code of ours). */
function errorOf(d: Denial): EdgeError {
  return new EdgeError(d.code ?? 'EDGE_ERR_INTERNAL', d.reason);
}

function relayed(d: Denial): [string, string][] {
  return d.headers.filter(([name]) => !NOT_RELAYED.has(name.toLowerCase())).map(([n, v]) => [n.toLowerCase(), v]);
}

/** On a request's response (h1 or h2), with HSTS and the route's header rules (nginx's `always`: refusals too). */
export function answerResponse(res: ClientResponse, d: Denial, hsts: string | null, ruled: AnswerRules | null): void {
  if (d.body === undefined) {
    for (const [name, value] of d.headers) res.setHeader(name, value);
    respond(res, errorOf(d), hsts, d.reason, false, ruled);
    return;
  }
  if (res.headersSent) return void res.destroy();
  res.statusCode = d.status;
  const fields = new Map<string, string[]>();
  for (const [name, value] of relayed(d)) fields.set(name, [...(fields.get(name) ?? []), value]);
  for (const [name, values] of fields) res.setHeader(name, values.length === 1 ? values[0] as string : values);
  res.setHeader('content-length', d.body.length);
  if (hsts !== null) res.setHeader('strict-transport-security', hsts);
  if (ruled !== null) ruleResponse(res, d.status, ruled);
  res.end(d.body);
}

/** On an HTTP/1.1 upgrade's socket: a real status line, then close (ws's abortHandshake). */
export function answerSocket(socket: Duplex, d: Denial, hsts: string | null): void {
  if (d.body === undefined) {
    respondRaw(socket, errorOf(d), hsts, d.reason, d.headers.map(([n, v]) => `${n}: ${v}\r\n`).join(''));
    return;
  }
  if (!socket.writable) return void socket.destroy();
  const head = `HTTP/1.1 ${d.status} ${reasonPhrase(d.status)}\r\n${relayed(d).map(([n, v]) => `${n}: ${v}\r\n`).join('')}` +
    `Content-Length: ${d.body.length}\r\n${hsts === null ? '' : `Strict-Transport-Security: ${hsts}\r\n`}Connection: close\r\n\r\n`;
  socket.end(Buffer.concat([Buffer.from(head, 'latin1'), d.body]));
  setTimeout(() => socket.destroy(), 5000).unref();
}

/** On an RFC 8441 CONNECT stream: HEADERS and the body, then the stream ends. */
export function answerStream(stream: ServerHttp2Stream, d: Denial, hsts: string | null): void {
  if (stream.destroyed || stream.headersSent) return void stream.destroy();
  const body = d.body ?? Buffer.from(`${d.reason}\n`);
  const fields: Record<string, string | string[] | number> = { ':status': d.status };
  for (const [name, value] of d.body === undefined ? d.headers.map(([n, v]) => [n.toLowerCase(), v] as [string, string]) : relayed(d)) {
    const had = fields[name];
    fields[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [String(had)]), value];
  }
  if (d.body === undefined) {
    fields['content-type'] = 'text/plain; charset=utf-8';
    fields['cache-control'] = 'no-store';
  }
  fields['content-length'] = body.length;
  if (hsts !== null) fields['strict-transport-security'] = hsts;
  try {
    stream.respond(fields);
    stream.end(body);
  } catch {
    stream.destroy();
  }
}
