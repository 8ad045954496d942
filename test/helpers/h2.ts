import { connect, type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http2';
import { testCerts } from './certs.js';
import { within } from './wait.js';

/** How long a session or an answer may take before the test fails naming it. */
const WAIT_MS = 10_000;

type Tap = { teardown(fn: () => unknown): void };

export interface H2Reply {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** An h2 session to the edge trusting only the test CA (ALPN h2 only); closed at teardown. */
export async function h2Session(t: Tap, port: number, servername = 'localhost'): Promise<ClientHttp2Session> {
  const certs = await testCerts();
  const session = connect(`https://127.0.0.1:${port}`, { ca: certs.caPem, servername });
  session.on('error', () => undefined);
  t.teardown(() => { if (!session.destroyed) session.destroy(); });
  await within(WAIT_MS, new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  }), `an h2 session to :${port}`);
  return session;
}

/** One request on `session`; `:authority` defaults to localhost. */
export function h2Request(session: ClientHttp2Session, headers: OutgoingHttpHeaders = {}, body?: string | Buffer): Promise<H2Reply> {
  return within(WAIT_MS, new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/', ':authority': 'localhost', ...headers }, { endStream: body === undefined });
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    stream.on('response', (h) => { head = h; });
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve({ status: Number(head[':status']), headers: head, body: Buffer.concat(chunks).toString('utf8') }));
    stream.on('error', reject);
    if (body !== undefined) stream.end(body);
  }), `the h2 answer to ${String(headers[':method'] ?? 'GET')} ${String(headers[':path'] ?? '/')}`);
}

/** One request on a fresh session. */
export async function h2Get(t: Tap, port: number, headers: OutgoingHttpHeaders = {}, servername = 'localhost'): Promise<H2Reply> {
  const session = await h2Session(t, port, servername);
  try {
    return await h2Request(session, headers);
  } finally {
    session.close();
  }
}
