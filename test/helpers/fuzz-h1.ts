// Seeded HTTP/1.1 client inputs for the framing fuzz harness (issue 19): request heads with the
// framing variants the request-smuggling literature lists, pipelined, with bodies that carry a
// request of their own. Every request's target and X-Id name it `kCLIENT-N`, so whatever reaches
// the upstream or a client can be traced to the client request it came from.

/** mulberry32: small, fast, good enough to pick cases; the same seed gives the same cases. */
export class Rng {
  #state: number;
  constructor(seed: number) {
    this.#state = seed >>> 0;
  }
  next(): number {
    this.#state = (this.#state + 0x6d2b79f5) >>> 0;
    let x = this.#state;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)] as T;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/** How the upstream answers a request (its X-Answer header): framings and statuses a client must not misread. */
export const ANSWERS = ['len', 'chunked', '204', '304', 'close', 'early', 'continue', 'hints'] as const;
export type Answer = typeof ANSWERS[number];

interface Framed {
  readonly headers: readonly string[];
  readonly body: string;
}

/** RFC 9112 §7.1 chunked body, split at random, with the literature's size and extension variants. */
function chunked(rng: Rng, body: string): string {
  let out = '';
  let rest = body;
  while (rest.length > 0) {
    const n = Math.min(rest.length, 1 + rng.int(rest.length));
    const size = rng.pick([n.toString(16), n.toString(16).toUpperCase(), `000${n.toString(16)}`]);
    const ext = rng.pick(['', '', ';a=b', ';a="q;\\"x"', ' ; a', ';a=b;c']);
    out += `${size}${ext}\r\n${rest.slice(0, n)}\r\n`;
    rest = rest.slice(n);
  }
  return `${out}0\r\n${rng.chance(0.2) ? 'X-Trailer: t\r\n' : ''}\r\n`;
}

/** Malformed chunked bodies: where parsers have disagreed about where a chunk ends. */
function badChunked(rng: Rng, body: string): string {
  const n = body.length.toString(16);
  return rng.pick([
    `${n}\n${body}\r\n0\r\n\r\n`, // bare LF after the size
    `${n} \r\n${body}\r\n0\r\n\r\n`, // space after the size
    ` ${n}\r\n${body}\r\n0\r\n\r\n`, // space before the size
    `${n}\r\n${body}0\r\n\r\n`, // no CRLF after the data
    `${n};a=\r\n${body}\r\n0\r\n\r\n`, // extension without a value
    `${n};a\rb\r\n${body}\r\n0\r\n\r\n`, // bare CR in an extension
    `fffffffffffffffff\r\n${body}\r\n0\r\n\r\n`, // overflow
    `${n}\r\n${body}\r\n0\r\n`, // no final CRLF
    `${n}\r\n${body}\r\n0\n\n`, // bare LF in the last chunk
    `0x${n}\r\n${body}\r\n0\r\n\r\n`,
    `${n}\r\n${body}\r\n0\r\nX Bad: t\r\n\r\n`, // malformed trailer
    `-${n}\r\n${body}\r\n0\r\n\r\n`,
  ]);
}

/** One framing variant: the framing headers it sends and the body bytes as written. */
function framing(rng: Rng, body: string): Framed {
  const n = body.length;
  switch (rng.int(16)) {
    case 0: case 1: return { headers: [], body: '' };
    case 2: case 3: return { headers: [`Content-Length: ${n}`], body };
    case 4: return { headers: [`Content-Length: ${n + 1 + rng.int(40)}`], body }; // announces more: the next request's bytes
    case 5: return { headers: [`Content-Length: ${Math.max(0, n - 1 - rng.int(n))}`], body }; // announces less: the rest looks like a request
    case 6: return { headers: [`Content-Length: ${n}`, `Content-Length: ${rng.pick([n, n + 1, 0])}`], body };
    case 7: return { headers: [`Content-Length: ${rng.pick([`${n}, ${n}`, `${n},${n + 1}`, `+${n}`, ` ${n}`, `0${n}`, `${n}\t`, `-1`, `0x${n.toString(16)}`, `${n}e0`, '99999999999999999999', `${n} ${n}`])}`], body };
    case 8: case 9: return { headers: ['Transfer-Encoding: chunked'], body: chunked(rng, body) };
    case 10: return { headers: ['Transfer-Encoding: chunked', `Content-Length: ${rng.pick([n, 0, 3])}`], body: rng.chance(0.5) ? chunked(rng, body) : body };
    case 11: {
      const te = rng.pick(['chunked, chunked', 'gzip, chunked', 'identity', 'Chunked', ' chunked', 'chunked ', 'xchunked', 'chunked;q=1', 'chunked, identity', 'CHUNKED', '\tchunked']);
      return { headers: [`Transfer-Encoding: ${te}`], body: chunked(rng, body) };
    }
    case 12: return { headers: ['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], body: chunked(rng, body) };
    case 13: return {
      headers: [rng.pick(['Transfer-Encoding : chunked', 'Transfer_Encoding: chunked', 'Transfer-Encoding:\r\n chunked', 'Transfer-Encoding: \x0bchunked', 'Content-Length : 3', 'Content-Length:\r\n 3', 'X: y\r\nTransfer-Encoding: chunked'])],
      body: rng.chance(0.5) ? chunked(rng, body) : body,
    };
    case 14: return { headers: ['Transfer-Encoding: chunked'], body: badChunked(rng, body) };
    default: return { headers: [`Content-Length: ${n}`, 'Connection: content-length'], body };
  }
}

/** Everything one client connection sends, and the ids of the requests in it. */
export interface H1Case {
  readonly bytes: Buffer;
  readonly ids: readonly string[];
}

/** A client's bytes: 1–3 pipelined requests, the last asking to close. */
export function h1Case(rng: Rng, client: number): H1Case {
  const count = 1 + rng.int(3);
  const ids: string[] = [];
  let text = '';
  for (let i = 0; i < count; i++) {
    const id = `k${client}-${i}`;
    ids.push(id);
    text += h1Request(rng, id, i === count - 1);
  }
  return { bytes: Buffer.from(text, 'latin1'), ids };
}

function h1Request(rng: Rng, id: string, last: boolean): string {
  const method = rng.pick(['GET', 'GET', 'POST', 'POST', 'PUT', 'HEAD', 'OPTIONS', 'DELETE', 'PATCH']);
  const target = rng.chance(0.1) ? `https://localhost/${id}` : `/${id}`;
  const version = rng.chance(0.05) ? '1.0' : '1.1';
  // A body that holds a whole request of its own: if it were ever read as one, it would show up upstream.
  const smuggled = `GET /${id}s HTTP/1.1\r\nHost: localhost\r\nX-Id: ${id}s\r\nX-Answer: len\r\n\r\n`;
  const body = rng.pick(['', 'hello', `body-${id}`, smuggled, `x=${id}&${smuggled}`]);
  const headers: string[] = [];
  if (!rng.chance(0.03)) headers.push('Host: localhost');
  if (rng.chance(0.02)) headers.push('Host: other.test');
  headers.push(`X-Id: ${id}`, `X-Answer: ${rng.pick(ANSWERS)}`);
  const framed = framing(rng, body);
  headers.push(...framed.headers);
  if (rng.chance(0.08)) headers.push(rng.pick(['Expect: 100-continue', 'Expect: 100-continue', 'Expect: bogus']));
  if (rng.chance(0.06)) {
    headers.push('Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Origin: https://localhost');
  } else if (rng.chance(0.02)) {
    headers.push('Upgrade: h2c', 'Connection: Upgrade, HTTP2-Settings', 'HTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA');
  }
  if (rng.chance(0.05)) headers.push(rng.pick(['X-Fold: a\r\n b', 'X-CR: a\rb', 'X-NUL: a\0b', 'X Space: a', 'X-Forwarded-For: 6.6.6.6', 'X_Forwarded_For: 6.6.6.6']));
  if (last) headers.push('Connection: close');
  const eol = rng.chance(0.04) ? '\n' : '\r\n';
  return `${method} ${target} HTTP/${version}${eol}${headers.join(eol)}${eol}${eol}${framed.body}`;
}
