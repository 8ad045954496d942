// Seeded h2 client inputs for the framing fuzz harness (issue 19): raw frames on one TLS
// connection per case — pseudo-header variants, content-length against the DATA sent, RFC 8441
// extended CONNECT and classic CONNECT, trailers, resets mid-body, empty DATA frames (mid-body,
// and as the END_STREAM after the body), streams interleaved — and the invariant for them: an
// upstream request only for a stream that ended as it announced, with exactly its DATA as the
// body, each at most once; no stream receives another's bytes; a stream that ended cleanly gets
// its upstream's answer.
import { connect as tlsConnect } from 'node:tls';
import { testCerts } from './certs.js';
import { ANSWERS, type Rng } from './fuzz-h1.js';
import type { Parsed } from './fuzz-harness.js';
import { field, frame, FRAME, headers, rstStream, settings, ERROR } from './h2-frames.js';


const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const END_STREAM = 0x1;

interface Plan {
  readonly stream: number;
  readonly id: string;
  readonly method: string;
  /** The body the upstream may see: the DATA sent (nothing for a CONNECT, whose DATA is tunnel bytes). */
  readonly body: string;
  /** END_STREAM was sent with everything announced (no reset, content-length met or absent). */
  readonly clean: boolean;
  /** Must never reach an upstream: a classic CONNECT, or an extended CONNECT announcing a body. */
  readonly never: boolean;
  /** A clean stream whose upstream answer carries its tag (`up:ID;`, fuzz-harness.ts): it must reach the client. */
  readonly answered: boolean;
  readonly note: string;
  readonly frames: Buffer[];
}

export interface H2Result {
  readonly client: number;
  readonly plans: readonly Plan[];
  /** DATA payloads received, per stream. */
  readonly data: Map<number, string>;
  /** The edge sent GOAWAY: streams it had not answered yet may stay unanswered. */
  goaway: boolean;
  /** Streams opened after a higher-numbered one (RFC 9113 §5.1.1: a connection error nghttp2 may just ignore): never answered. */
  readonly late: ReadonlySet<number>;
  describe(): string;
}

function plan(rng: Rng, stream: number, id: string): Plan {
  const kind = rng.pick(['GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'CONNECT-ws', 'CONNECT']);
  const method = kind.startsWith('CONNECT') ? 'CONNECT' : kind;
  const smuggled = `GET /${id}s HTTP/1.1\r\nHost: localhost\r\nX-Id: ${id}s\r\n\r\n`;
  const body = method === 'GET' || method === 'HEAD' ? rng.pick(['', '', 'x']) : rng.pick(['', 'hello', `body-${id}`, smuggled]);
  const fields: [string, string][] = [[':method', method]];
  if (kind !== 'CONNECT') fields.push([':scheme', 'https'], [':path', `/${id}`]);
  fields.push([':authority', 'localhost']);
  if (kind === 'CONNECT-ws') fields.push([':protocol', 'websocket'], ['sec-websocket-version', '13'], ['origin', 'https://localhost']);
  const answer = rng.pick(ANSWERS);
  fields.push(['x-id', id], ['x-answer', answer]);
  const n = body.length;
  const length = rng.pick([undefined, undefined, String(n), String(n), String(n + 1 + rng.int(9)), String(Math.max(0, n - 1)), 'abc', `${n}, ${n}`, '0']);
  if (length !== undefined) fields.push(['content-length', length]);
  let note = `${kind} cl=${length ?? '-'} body=${n}`;
  let malformed = false;
  if (rng.chance(0.12)) {
    const bad = rng.pick(['te-chunked', 'connection', 'upper', 'te-gzip', 'late-pseudo', 'dup-path', 'no-path', 'host', 'cl-twice']);
    note += ` ${bad}`;
    // A single content-length (none was announced before) is no fault.
    malformed = bad !== 'host' && !(bad === 'cl-twice' && length === undefined);
    switch (bad) {
      case 'te-chunked': fields.push(['transfer-encoding', 'chunked']); break;
      case 'connection': fields.push(['connection', 'keep-alive']); break;
      case 'upper': fields.push(['X-Upper', '1']); break;
      case 'te-gzip': fields.push(['te', 'gzip']); break;
      case 'late-pseudo': fields.push([':path', `/${id}`]); fields.splice(fields.findIndex(([k]) => k === ':path'), 1); break;
      case 'dup-path': fields.push([':path', `/${id}`]); break;
      case 'no-path': { const i = fields.findIndex(([k]) => k === ':path'); if (i !== -1) fields.splice(i, 1); break; }
      case 'host': fields.push(['host', 'other.test']); break;
      default: fields.push(['content-length', String(n)]);
    }
  }
  const block = Buffer.concat(fields.map(([k, v]) => field(k, v)));
  const frames: Buffer[] = [];
  // 'empty-end': the body's DATA, then an empty DATA carrying END_STREAM (RFC 9113 §6.1), as many clients end an upload.
  const ending = body === '' && rng.chance(0.6) ? 'headers' : rng.pick(['data', 'data', 'empty-end', 'trailers', 'reset']);
  note += ` end=${ending}`;
  frames.push(headers(stream, block, { endStream: ending === 'headers' }));
  if (ending !== 'headers') {
    let rest = body;
    const pieces: string[] = [];
    while (rest.length > 0) {
      const k = 1 + rng.int(rest.length);
      pieces.push(rest.slice(0, k));
      rest = rest.slice(k);
    }
    if (pieces.length === 0) pieces.push('');
    // An empty DATA mid-body is no last chunk (RFC 9112 §7.1 upstream: a zero-size chunk would be).
    if (pieces.length > 1 && rng.chance(0.15)) pieces.splice(1 + rng.int(pieces.length - 1), 0, '');
    const sent = ending === 'reset' ? pieces.slice(0, Math.max(0, pieces.length - 1)) : pieces;
    sent.forEach((p, i) => frames.push(frame(FRAME.DATA, ending === 'data' && i === sent.length - 1 ? END_STREAM : 0, stream, Buffer.from(p, 'latin1'))));
    if (ending === 'empty-end') frames.push(frame(FRAME.DATA, END_STREAM, stream));
    if (ending === 'trailers') frames.push(headers(stream, field('x-trailer', 't')));
    if (ending === 'reset') frames.push(rstStream(stream, ERROR.CANCEL));
  }
  const lengthMet = length === undefined || length === String(n);
  const clean = ending !== 'reset' && lengthMet && !malformed;
  const never = kind === 'CONNECT' || (kind === 'CONNECT-ws' && length !== undefined && length !== '0');
  // A Host naming another site than :authority is refused at the edge (RFC 9113 §8.3.1); 204, 304 and HEAD answers carry no body.
  const answered = clean && !never && kind !== 'CONNECT-ws' && method !== 'HEAD' && answer !== '204' && answer !== '304' && !note.includes(' host');
  return { stream, id, method, body: method === 'CONNECT' ? '' : body, clean, never, answered, note, frames };
}

/** One h2 connection: 1–4 streams, frames interleaved at random; resolves when every stream ended (or 3 s). */
export async function h2Batch(port: number, rng: Rng, client: number): Promise<H2Result> {
  const certs = await testCerts();
  const plans = Array.from({ length: 1 + rng.int(4) }, (_, i) => plan(rng, 1 + 2 * i, `k${client}-${i}`));
  const data = new Map<number, string>();
  // A stream the client resets gets no answer to wait for.
  const ended = new Set<number>(plans.filter((p) => p.note.endsWith('end=reset')).map((p) => p.stream));
  const late = new Set<number>();
  const result: H2Result = { client, plans, data, goaway: false, late, describe: () => plans.map((p) => `${p.stream}:${p.note}`).join(' | ') };
  const queues = plans.map((p) => [...p.frames]);
  const order: Buffer[] = [];
  for (let live = queues.filter((q) => q.length > 0); live.length > 0; live = queues.filter((q) => q.length > 0)) order.push(rng.pick(live).shift() as Buffer);
  const opened = new Set<number>();
  let highest = 0;
  for (const f of order) {
    const id = f.readUInt32BE(5) & 0x7fffffff;
    if (f[3] !== FRAME.HEADERS || opened.has(id)) continue; // trailers are HEADERS too
    opened.add(id);
    if (id < highest) late.add(id);
    else highest = id;
  }
  await new Promise<void>((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ALPNProtocols: ['h2'] }, () => {
      socket.write(Buffer.concat([PREFACE, settings(), ...order]));
    });
    let buffer = Buffer.alloc(0);
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve();
    };
    const timer = setTimeout(finish, 3000);
    socket.on('error', finish);
    socket.on('close', finish);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        const type = buffer[3] as number;
        const flags = buffer[4] as number;
        const stream = buffer.readUInt32BE(5) & 0x7fffffff;
        const payload = buffer.subarray(9, 9 + length);
        buffer = buffer.subarray(9 + length);
        if (type === FRAME.SETTINGS && (flags & 1) === 0) socket.write(frame(FRAME.SETTINGS, 1, 0));
        if (type === FRAME.DATA) data.set(stream, (data.get(stream) ?? '') + payload.toString('latin1'));
        if (((type === FRAME.DATA || type === FRAME.HEADERS) && (flags & END_STREAM) !== 0) || type === FRAME.RST_STREAM) ended.add(stream);
        if (type === FRAME.GOAWAY) result.goaway = true;
        if (type === FRAME.GOAWAY || plans.every((p) => ended.has(p.stream))) return finish();
      }
    });
  });
  return result;
}

/** The invariant for one h2 connection. */
export function checkH2(result: H2Result, upstream: readonly Parsed[]): string[] {
  const v: string[] = [];
  const once = new Set<string>();
  for (const p of upstream) {
    const planned = result.plans.find((x) => x.id === p.id);
    if (planned === undefined) {
      v.push(`upstream saw ${p.method} ${p.url}, which no stream sent`);
      continue;
    }
    if (once.has(p.id)) v.push(`${p.id} reached the upstream twice`);
    once.add(p.id);
    if (planned.never) v.push(`${p.id} (${planned.note}) reached the upstream`);
    if (!p.url.endsWith(`/${p.id}`)) v.push(`upstream request ${p.method} ${p.url} carries id ${p.id}`);
    if (p.complete && !planned.clean && planned.method !== 'CONNECT') v.push(`${p.id} (${planned.note}) reached the upstream complete though the stream did not end as announced`);
    if (p.complete && p.body !== planned.body) v.push(`${p.id}: upstream body ${JSON.stringify(p.body)} ≠ sent ${JSON.stringify(planned.body)}`);
  }
  // Liveness: a body that ended cleanly (an empty DATA with END_STREAM included) is not left
  // waiting for an end it already had; the edge's own timeout answer carries no upstream tag.
  if (!result.goaway) {
    for (const p of result.plans) {
      if (p.answered && !result.late.has(p.stream) && !(result.data.get(p.stream) ?? '').includes(`up:${p.id};`)) v.push(`${p.id} (${p.note}) ended cleanly but its upstream's answer never reached the client`);
    }
  }
  for (const [stream, text] of result.data) {
    const own = result.plans.find((x) => x.stream === stream)?.id;
    for (const m of text.matchAll(/k\d+-[0-9s]+/g)) {
      if (m[0] !== own) v.push(`stream ${stream} (${own ?? '?'}) received ${m[0]}`);
    }
  }
  return v;
}
