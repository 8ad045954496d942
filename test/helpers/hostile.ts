import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';

type Tap = { teardown(fn: () => unknown): void };

/** One request as a raw upstream read it: its head, and which connection (1-based) and request on it (1-based) it was. */
export interface RawRequest {
  readonly head: string;
  readonly method: string;
  readonly path: string;
  readonly connection: number;
  readonly nth: number;
}

export interface HostileUpstream {
  readonly address: string;
  readonly requests: RawRequest[];
  /** Connections accepted so far, open now, and the most open at once. */
  accepted: number;
  open: number;
  maxOpen: number;
}

/**
 * A raw TCP upstream that splits what it reads into request heads (skipping Content-Length
 * bodies) and lets `answer` write whatever bytes it likes for each, or nothing, or close.
 */
export async function hostileUpstream(t: Tap, answer: (socket: Socket, request: RawRequest) => void): Promise<HostileUpstream> {
  const state: HostileUpstream = { address: '', requests: [], accepted: 0, open: 0, maxOpen: 0 };
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    const connection = ++state.accepted;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => {
      sockets.delete(socket);
      state.open--;
    });
    let buffered = '';
    let skip = 0;
    let nth = 0;
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buffered.length);
          buffered = buffered.slice(n);
          skip -= n;
          if (skip > 0) return;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.slice(0, end + 4);
        buffered = buffered.slice(end + 4);
        skip = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        const [method = '', path = ''] = head.split(' ');
        const request = { head, method, path, connection, nth: ++nth };
        state.requests.push(request);
        if (!socket.destroyed) answer(socket, request);
      }
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => { for (const s of sockets) s.destroy(); server.close(); });
  Object.assign(state, { address: `127.0.0.1:${(server.address() as AddressInfo).port}` });
  return state;
}

/** Poll `check` every 20 ms until it holds or `ms` pass; returns whether it held. */
export async function eventually(check: () => boolean, ms = 2000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 20))) {
    if (check()) return true;
  }
  return check();
}
