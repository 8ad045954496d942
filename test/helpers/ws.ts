import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { testCerts } from './certs.js';

type Tap = { teardown(fn: () => unknown): void };

export interface WsBackend {
  readonly server: Server;
  readonly wss: WebSocketServer;
  readonly address: string;
  readonly port: number;
  /** TCP connections accepted: proves a refused upgrade never reached the upstream. */
  connections: number;
  readonly upgrades: { url: string; headers: Record<string, string | string[] | undefined> }[];
}

/** A real `ws` echo upstream on 127.0.0.1:0 that answers every message with `${name}:${message}`. */
export async function startWsBackend(t: Tap, name = 'ws', options: ConstructorParameters<typeof WebSocketServer>[0] = {}): Promise<WsBackend> {
  const server = createServer((_req, res) => res.end(`http ${name}`));
  const wss = new WebSocketServer({ server, ...options });
  const backend: WsBackend = { server, wss, address: '', port: 0, connections: 0, upgrades: [] };
  server.on('connection', (s: Socket) => {
    backend.connections++;
    s.on('error', () => s.destroy());
  });
  wss.on('connection', (ws, req) => {
    backend.upgrades.push({ url: req.url ?? '', headers: req.headers });
    ws.on('message', (data, binary) => ws.send(binary ? data : `${name}:${data.toString()}`, { binary }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of wss.clients) c.terminate();
    wss.close();
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  const port = (server.address() as AddressInfo).port;
  Object.assign(backend, { port, address: `127.0.0.1:${port}` });
  return backend;
}

/** A wss client trusting the test CA; resolves once open (rejects with the HTTP status on refusal). */
export async function openWs(port: number, path = '/', options: { origin?: string; host?: string; localAddress?: string; protocols?: string[]; headers?: Record<string, string> } = {}): Promise<WebSocket> {
  const certs = await testCerts();
  const ws = new WebSocket(`wss://localhost:${port}${path}`, options.protocols ?? [], {
    ca: certs.caPem,
    ...(options.origin === undefined ? {} : { origin: options.origin }),
    headers: { ...(options.host === undefined ? {} : { host: options.host }), ...options.headers },
    ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      reject(Object.assign(new Error(`HTTP ${res.statusCode ?? 0}`), { status: res.statusCode, headers: res.headers }));
    });
    ws.once('error', reject);
  });
}

/** Send one text message and wait for the next one back. */
export async function roundTrip(ws: WebSocket, text: string): Promise<string> {
  const reply = once(ws, 'message') as Promise<[Buffer, boolean]>;
  ws.send(text);
  return (await reply)[0].toString();
}
