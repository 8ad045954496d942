import { once } from 'node:events';
import WebSocket from 'ws';
import { testCerts } from './certs.js';
import { within } from './wait.js';

// The WebSocket echo upstream lives in upstream.ts; re-exported only for test files written on
// branches before the move. New code imports upstream.js.
export { startWsBackend, type Upstream as WsBackend } from './upstream.js';

/** How long a handshake or an answer may take before the test fails naming it. */
const WAIT_MS = 10_000;

/** A wss client trusting the test CA; resolves once open (rejects with the HTTP status on refusal). */
export async function openWs(port: number, path = '/', options: { origin?: string; host?: string; localAddress?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<WebSocket> {
  const certs = await testCerts();
  const ws = new WebSocket(`wss://localhost:${port}${path}`, options.protocols ?? [], {
    ca: certs.caPem,
    ...(options.origin === undefined ? {} : { origin: options.origin }),
    headers: { ...(options.host === undefined ? {} : { host: options.host }), ...options.headers },
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  return within(WAIT_MS, new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { status: res.statusCode, headers: res.headers }));
    });
    ws.once('error', reject);
  }), `a WebSocket handshake for ${path} on :${port}`);
}

/** Send one text message and wait for the next one back. */
export async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message') as Promise<[Buffer, boolean]>;
  ws.send(text);
  return (await within(WAIT_MS, reply, `an answer to the WebSocket message ${JSON.stringify(text.slice(0, 40))}`))[0].toString();
}
