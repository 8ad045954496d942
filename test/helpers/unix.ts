import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';

type Tap = { teardown(fn: () => unknown): void };

export interface UnixBackend {
  readonly server: Server;
  /** The socket path it listens on; the target is `unix:${path}`. */
  readonly path: string;
  readonly seen: { readonly url: string; readonly headers: IncomingMessage['headers'] }[];
  /** Connections accepted (keep-alive reuse shows as this staying at 1). */
  connections: number;
}

/**
 * A real HTTP/1.1 upstream on a Unix socket at `path` (nginx's `server unix:PATH` target),
 * answering `name` unless `handler` does; with `ws`, a `ws` echo server shares it (`${name}:${msg}`).
 */
export async function startUnixBackend(t: Tap, path: string, name: string, options: { ws?: boolean; handler?: (req: IncomingMessage, res: ServerResponse) => void } = {}): Promise<UnixBackend> {
  const server = createServer((req, res) => {
    backend.seen.push({ url: req.url ?? '', headers: req.headers });
    if (options.handler !== undefined) options.handler(req, res);
    else res.end(name);
  });
  const backend: UnixBackend = { server, path, seen: [], connections: 0 };
  server.on('connection', (s: Socket) => {
    backend.connections++;
    s.on('error', () => s.destroy());
  });
  const wss = options.ws === true ? new WebSocketServer({ server }) : undefined;
  wss?.on('connection', (ws, req) => {
    backend.seen.push({ url: req.url ?? '', headers: req.headers });
    ws.on('message', (data) => ws.send(`${name}:${data.toString()}`));
  });
  server.listen(path);
  await once(server, 'listening');
  t.teardown(() => new Promise<void>((resolve) => {
    for (const c of wss?.clients ?? []) c.terminate();
    wss?.close();
    server.closeAllConnections();
    server.close(() => resolve());
  }));
  return backend;
}
