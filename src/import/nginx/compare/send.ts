import { request as httpRequest, type IncomingMessage, type ClientRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import { brotliDecompressSync, gunzipSync, inflateSync } from 'node:zlib';
import type { CompareRequest } from './requests.js';
import { UNKNOWN_HOST } from './requests.js';
import { flatHeaders } from './backends.js';

/** One side's answer to one request: what the diff looks at. */
export interface Answer {
  readonly status: number;
  /** Lower-cased names; repeated fields joined with `, `. */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, decoded when it came compressed (the encoding itself is a header the diff compares). */
  readonly body: Buffer;
  /** TLS version negotiated, on TLS ports. */
  readonly protocol?: string;
  /** Set instead of an answer when the exchange failed (refused, reset, TLS alert, timeout). */
  readonly error?: string;
}

/** Where one side listens and what its client trusts. */
export interface Side {
  readonly name: 'nginx' | 'gatehouse';
  /** Original port → this side's loopback port. */
  readonly ports: ReadonlyMap<number, number>;
  readonly caPem: string;
}

const TIMEOUT_MS = 10_000;

/**
 * Send `r` to one side over TLS (SNI = the Host's name, the test CA trusted through `ca`) or plain
 * HTTP, and collect the answer. A 101 ends the exchange at the head: the tunnel is not compared.
 */
export function send(r: CompareRequest, side: Side): Promise<Answer> {
  const port = side.ports.get(r.listen.port) ?? 1;
  const host = r.host.replace('{port}', String(port));
  const name = host.replace(/:\d+$/, '').toLowerCase();
  const options = {
    host: '127.0.0.1', port, method: r.method, path: r.path, agent: false as const,
    headers: { ...r.headers, host, ...(r.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(r.body)) }) },
  };
  return new Promise((resolve) => {
    let done = false;
    const finish = (a: Answer): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve(a);
    };
    const fail = (err: Error & { code?: string }): void => finish({ status: 0, headers: {}, body: Buffer.alloc(0), error: err.code ?? err.message });
    const req: ClientRequest = r.listen.ssl
      ? httpsRequest({
        ...options, servername: name, ca: side.caPem, minVersion: 'TLSv1.2', maxVersion: r.kind === 'tls12' ? 'TLSv1.2' : 'TLSv1.3',
        // The chain is still checked against the test CA; only the name check is off for a Host no certificate names.
        ...(name === UNKNOWN_HOST ? { checkServerIdentity: () => undefined } : {}),
      })
      : httpRequest(options);
    const timer = setTimeout(() => fail(Object.assign(new Error('timeout'), { code: 'timeout' })), TIMEOUT_MS);
    const protocol = (): { protocol?: string } => {
      const p = (req.socket as TLSSocket | null)?.getProtocol?.();
      return typeof p === 'string' ? { protocol: p } : {};
    };
    req.on('upgrade', (res: IncomingMessage) => finish({ status: res.statusCode ?? 0, headers: flatHeaders(res), body: Buffer.alloc(0), ...protocol() }));
    req.on('response', (res: IncomingMessage) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', fail);
      res.on('end', () => {
        const headers = flatHeaders(res);
        finish({ status: res.statusCode ?? 0, headers, body: decode(Buffer.concat(chunks), headers['content-encoding']), ...protocol() });
      });
    });
    req.on('error', fail);
    req.end(r.body);
  });
}

function decode(body: Buffer, encoding: string | undefined): Buffer {
  try {
    if (encoding === 'gzip') return gunzipSync(body);
    if (encoding === 'br') return brotliDecompressSync(body);
    if (encoding === 'deflate') return inflateSync(body);
  } catch {
    // Left as sent: the body differs, and the diff says so.
  }
  return body;
}

/** Run `fn` over `items` with at most `limit` in flight, keeping the order of results. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
