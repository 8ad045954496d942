import { createServer, type Server } from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

/** Loopback admin listener: GET /healthz (200 while serving, 503 while draining) and GET /metrics. */
export function createAdminListener(metrics: Metrics, status: () => { state: string; ready: boolean }, log: Logger): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' }).end('method not allowed\n');
      return;
    }
    if (path === '/healthz') {
      const s = status();
      res.writeHead(s.ready ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ status: s.ready ? 'ok' : s.state })}\n`);
      return;
    }
    if (path === '/metrics') {
      metrics.registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
        (err: unknown) => {
          log.error({ err }, 'metrics collection failed');
          res.writeHead(500).end();
        },
      );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /healthz or /metrics\n');
  });
  server.on('connection', (socket) => socket.on('error', () => socket.destroy()));
  // accept(2) failing (EMFILE) is a server 'error' libuv recovers from: a log line, never a crash.
  server.on('error', (err: NodeJS.ErrnoException) => {
    if (err.syscall === 'accept') log.warn({ event: 'accept-error', code: err.code, listener: 'admin' }, 'admin listener cannot accept connections (out of file descriptors?)');
  });
  return server;
}
