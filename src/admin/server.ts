import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../log.js';
import type { Metrics } from './metrics.js';

/** What `POST /cache/purge` asks for: one key (every variant) or every key under a prefix. */
export type PurgeRequest = { readonly key: string } | { readonly prefix: string };

/** Purges the response cache; undefined when the config has no `cache:`. */
export type Purge = (what: PurgeRequest) => Promise<number> | undefined;

/** Loopback admin listener: GET /healthz (200 while serving, 503 while draining), GET /metrics and POST /cache/purge. */
export function createAdminListener(metrics: Metrics, status: () => { state: string; ready: boolean }, log: Logger, purge?: Purge): Server {
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/cache/purge' && req.method === 'POST' && purge !== undefined) {
      purgeCache(req, res, purge, log);
      return;
    }
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

const MAX_PURGE_BODY = 64 * 1024;

/** `POST /cache/purge` with `{"key": "https://example.com/a"}` or `{"prefix": "https://example.com/media/"}` → `{"purged": N}`. */
export function purgeCache(req: IncomingMessage, res: ServerResponse, purge: Purge, log: Logger): void {
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size <= MAX_PURGE_BODY) chunks.push(chunk);
  });
  req.on('end', () => {
    let what: PurgeRequest | undefined;
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      if (typeof body.key === 'string' && body.key !== '') what = { key: body.key };
      else if (typeof body.prefix === 'string' && body.prefix !== '') what = { prefix: body.prefix };
    } catch {
      what = undefined;
    }
    if (size > MAX_PURGE_BODY || what === undefined) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end('expected a JSON body {"key": "…"} or {"prefix": "…"}\n');
      return;
    }
    const done = purge(what);
    if (done === undefined) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('no cache: the config has no "cache:" store\n');
      return;
    }
    done.then((purged) => {
      log.info({ event: 'cache-purge', ...what, purged }, 'cache purged');
      res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(`${JSON.stringify({ purged })}\n`);
    }, (err: unknown) => {
      log.error({ event: 'cache-purge', err }, 'cache purge failed');
      res.writeHead(500).end();
    });
  });
}
