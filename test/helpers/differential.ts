// Run one upstream response through both parsers under test: Node's own client (llhttp, via
// http.request against a raw net server writing the exact bytes) and Gatehouse's ResponseParser
// (fed directly, whole and split at every byte boundary).
import { once } from 'node:events';
import { request, type IncomingMessage } from 'node:http';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { ParseError } from '../../src/upstream/message-syntax.js';
import { ResponseParser } from '../../src/upstream/response-parser.js';

type Tap = { teardown(fn: () => unknown): void };

/**
 * What a parser made of a response: rejected, or the final status, the body bytes (latin1) and
 * whether the bytes after the message are a response head ("clean": none, or the next response
 * starts right there) or junk (the framing left the parser mid-message).
 */
export type Outcome =
  | { readonly accept: false }
  | { readonly accept: true; readonly status: number; readonly body: string; readonly after: 'clean' | 'junk' };

export const REJECT: Outcome = { accept: false };

/** A raw upstream that answers the request for `/N` with `responses[N]` and then closes. */
export async function rawResponder(t: Tap, responses: readonly string[]): Promise<number> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    let head = '';
    socket.on('data', (d: Buffer) => {
      head += d.toString('latin1');
      if (!head.includes('\r\n\r\n')) return;
      const index = Number(/^[A-Z]+ \/(\d+) /.exec(head)?.[1]);
      head = '';
      socket.end(Buffer.from(responses[index] ?? '', 'latin1'));
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  return (server.address() as AddressInfo).port;
}

/** Node's client (llhttp) reading response `index` from the responder. */
export function viaLlhttp(port: number, index: number, method: string): Promise<Outcome> {
  return new Promise((resolve) => {
    let settled = false;
    let response: IncomingMessage | undefined;
    // An error once the final response is complete is llhttp choking on the bytes after it; a
    // socket closed without one means they were empty or a response head (Node drops a second
    // response without a word).
    let junk = false;
    const settle = (o: Outcome): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(o);
    };
    const timer = setTimeout(() => settle(REJECT), 5000);
    const req = request({ host: '127.0.0.1', port, path: `/${index}`, method, agent: false }, (res: IncomingMessage) => {
      response = res;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', () => { if (!res.complete) settle(REJECT); });
      res.on('end', () => {
        if (!res.complete) return settle(REJECT);
        const body = Buffer.concat(chunks).toString('latin1');
        // The socket's close (and any error) may still be on its way: wait for it.
        const done = (): void => settle({ accept: true, status: res.statusCode ?? 0, body, after: junk ? 'junk' : 'clean' });
        if (req.socket?.destroyed === false) req.socket.once('close', () => setImmediate(done));
        else setImmediate(done);
      });
    });
    req.on('error', () => {
      if (response?.complete === true) junk = true;
      else settle(REJECT);
    });
    req.on('close', () => {
      if (response === undefined) settle(REJECT);
    });
    req.end();
  });
}

interface Feed {
  readonly outcome: Outcome;
  /** Bytes consumed when the message completed (-1: it did not). */
  readonly consumed: number;
}

/** Gatehouse's parser fed `pieces` then the upstream's close; a thrown non-ParseError escapes (a crash is a bug). */
function feed(bytes: Buffer, cuts: readonly number[], noBody: boolean): Feed {
  let status = 0;
  const body: Buffer[] = [];
  let done = false;
  let consumed = -1;
  let offset = 0;
  const parser = new ResponseParser({
    onHead: (head) => { status = head.status; },
    onBody: (chunk) => { body.push(chunk); },
    onComplete: (_reusable, tail) => {
      if (tail !== undefined) body.push(tail);
      done = true;
    },
    // No case asks to upgrade, so the parser never reports one; a 101 to a plain request is a protocol error.
    onUpgrade: () => { done = true; },
  }, 64 * 1024);
  parser.reset(noBody);
  try {
    for (let i = 0; i <= cuts.length; i++) {
      const end = i < cuts.length ? cuts[i] as number : bytes.length;
      if (end > offset) parser.execute(bytes.subarray(offset, end));
      offset = end;
      if (done && consumed === -1) consumed = end;
    }
    if (!done) parser.finish();
    if (!done) return { outcome: REJECT, consumed };
    if (consumed === -1) consumed = bytes.length;
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
    return { outcome: REJECT, consumed };
  }
  return { outcome: { accept: true, status, body: Buffer.concat(body).toString('latin1'), after: 'clean' }, consumed };
}

/** Does `rest` begin with a response head Gatehouse's parser accepts (the next response)? */
function startsResponse(rest: Buffer): boolean {
  if (rest.length === 0) return true;
  let head = false;
  const parser = new ResponseParser({ onHead: () => { head = true; }, onBody: () => undefined, onComplete: () => undefined, onUpgrade: () => undefined }, 64 * 1024);
  parser.reset(false);
  try {
    parser.execute(rest);
  } catch (err) {
    if (!(err instanceof ParseError)) throw err;
  }
  return head;
}

/**
 * Gatehouse's parser on `text`: byte by byte (which also tells where the message ends), as one
 * chunk, and cut in two at every boundary. Returns the byte-by-byte outcome and the list of
 * splits whose outcome differed from it (empty when the parser is split-proof).
 */
export function viaGatehouse(text: string, noBody: boolean): { outcome: Outcome; splitMismatches: string[] } {
  const bytes = Buffer.from(text, 'latin1');
  const every = Array.from({ length: bytes.length }, (_, i) => i + 1);
  const first = feed(bytes, every, noBody);
  let outcome = first.outcome;
  if (outcome.accept) outcome = { ...outcome, after: startsResponse(bytes.subarray(first.consumed)) ? 'clean' : 'junk' };
  const splitMismatches: string[] = [];
  const same = (o: Outcome): boolean => {
    if (!o.accept || !outcome.accept) return o.accept === outcome.accept;
    return o.status === outcome.status && o.body === outcome.body;
  };
  if (!same(feed(bytes, [], noBody).outcome)) splitMismatches.push('one chunk');
  for (let cut = 1; cut < bytes.length; cut++) {
    if (!same(feed(bytes, [cut], noBody).outcome)) splitMismatches.push(`cut at ${cut}`);
  }
  return { outcome, splitMismatches };
}
