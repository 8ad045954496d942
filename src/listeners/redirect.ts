import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { realpath, readFile } from 'node:fs/promises';
import { join, sep } from 'node:path';
import type { Duplex } from 'node:stream';
import { EdgeError } from '../errors.js';
import type { Logger } from '../log.js';
import { clientAddress } from '../http/client-address.js';
import { answerClientError } from './client-error.js';
import { h1Limits } from './h1-limits.js';
import { hostOf } from '../http/host.js';
import { reasonPhrase, respond } from '../http/respond.js';
import { isWebSocketUpgrade } from '../pipeline/upgrade.js';
import type { Runtime } from '../pipeline/runtime.js';
import type { AcmeChallenge } from '../tls/acme/responders.js';

const CHALLENGE = '/.well-known/acme-challenge/';
const TOKEN = /^[A-Za-z0-9_-]+$/;

export type { AcmeChallenge };

/**
 * The :80 listener: ACME HTTP-01 challenges from a webroot, everything else redirected to
 * https on a configured host. Location is built from known parts only — never from the
 * request-target's authority — so "//evil.example/" or "http://evil/" cannot move it.
 */
export function createRedirectListener(runtime: () => Runtime, log: Logger, httpsPort: () => number, acmeChallenge?: () => AcmeChallenge | undefined, serve?: Serve, serveUpgrade?: ServeUpgrade): Server {
  // The same head timeout, head size and keep-alive as :443 (README "What it does, and why": Redirects), fixed at start like its.
  const options = { ...h1Limits(runtime().config), shouldUpgradeCallback: isWebSocketUpgrade } as Parameters<typeof createServer>[0];
  const server = createServer(options, (req, res) => {
    void handle(runtime(), req, res, log, httpsPort(), acmeChallenge?.(), serve).catch((err: unknown) => {
      log.error({ err, code: 'EDGE_ERR_INTERNAL' }, 'redirect listener failed');
      respond(res, new EdgeError('EDGE_ERR_INTERNAL', 'redirect listener failed', err), null, undefined, true);
    });
  });
  server.maxHeadersCount = 100;
  server.on('connection', (socket) => socket.on('error', () => socket.destroy()));
  // 400, 408, 431 … as on :443, without HSTS (RFC 6797 §7.2: never over plain HTTP).
  server.on('clientError', (err: NodeJS.ErrnoException, socket) => answerClientError(err, socket, null, log, 'http'));
  // A WebSocket handshake: a `plainHttp: serve` site's goes through the upgrade pipeline; any
  // other gets the redirect every request here gets, written on the socket the parser let go of.
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const rt = runtime();
    const parsed = hostOf(req.headers.host);
    if (serveUpgrade !== undefined && servesPlainHttp(rt, parsed)) return serveUpgrade(req, socket, head);
    socket.on('error', () => socket.destroy());
    const { host, location } = redirectTarget(rt, req.url ?? '/', parsed, httpsPort());
    const status = rt.config.redirect.status;
    socket.end(`HTTP/1.1 ${status} ${reasonPhrase(status)}\r\nLocation: ${location}\r\nContent-Length: 0\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n`);
    log.info({ method: req.method, host, path: req.url, status, clientIp: clientAddress(req.socket), listener: 'http', event: 'websocket-redirected' }, 'redirect');
  });
  return server;
}

/** The request pipeline over plain HTTP, for sites with `plainHttp: serve`. */
export type Serve = (req: IncomingMessage, res: ServerResponse) => void;
/** The upgrade pipeline over plain HTTP, for those sites' WebSockets. */
export type ServeUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => void;

async function handle(runtime: Runtime, req: IncomingMessage, res: ServerResponse, log: Logger, port: number, acme: AcmeChallenge | undefined, serve: Serve | undefined): Promise<void> {
  const url = req.url ?? '/';
  const { config } = runtime;
  const webroot = config.redirect.acmeWebroot;
  if ((webroot !== null || acme !== undefined) && url.startsWith(CHALLENGE)) {
    // Gatehouse's own tokens first (RFC 8555 §8.3: the CA follows no redirect to https here), then certbot's webroot.
    const body = acme !== undefined && (req.method === 'GET' || req.method === 'HEAD') ? await acme(url.slice(CHALLENGE.length)) : undefined;
    let refused: EdgeError | undefined;
    if (body !== undefined) sendToken(body, req, res);
    else if (webroot !== null) refused = await serveChallenge(webroot, url.slice(CHALLENGE.length), req, res);
    else refused = new EdgeError('EDGE_ERR_NO_ROUTE', 'no ACME token');
    if (refused !== undefined) respond(res, refused, null, 'not found');
    log.info({ method: req.method, path: url, status: res.statusCode, clientIp: clientAddress(req.socket), listener: 'http', ...(refused === undefined ? {} : { code: refused.code }) }, 'acme challenge');
    return;
  }
  const parsed = hostOf(req.headers.host);
  // ACME first (above), then a site that serves plain HTTP gets its routes (README: `sites[].plainHttp`).
  if (serve !== undefined && servesPlainHttp(runtime, parsed)) return serve(req, res);
  const { host, location } = redirectTarget(runtime, url, parsed, port);
  res.statusCode = config.redirect.status;
  res.setHeader('location', location);
  res.setHeader('content-length', 0);
  res.setHeader('cache-control', 'no-store');
  res.end();
  log.info({ method: req.method, host, path: url, status: res.statusCode, clientIp: clientAddress(req.socket), listener: 'http' }, 'redirect');
}

/** The request's Host (hostOf) names a `plainHttp: serve` site: :80 runs the pipeline for it (README `sites[].plainHttp`). */
function servesPlainHttp(runtime: Runtime, parsed: string | null | undefined): boolean {
  return typeof parsed === 'string' && runtime.sites.match(parsed)?.plainHttp === 'serve';
}

/** The https URL :80 sends a request to: a configured host (its Host, `parsed`, when that is one), the request's path and query as sent. */
function redirectTarget(runtime: Runtime, url: string, parsed: string | null | undefined, port: number): { host: string; location: string } {
  const host = parsed !== undefined && parsed !== null && runtime.sites.match(parsed) !== undefined ? parsed : runtime.sites.firstHost;
  const authority = `${host.includes(':') ? `[${host}]` : host}${port === 443 ? '' : `:${port}`}`;
  // Origin-form keeps path and query byte for byte ("//evil/p" stays a path: the authority is
  // already written); absolute-form gives up only its path; "*" and the rest go to "/".
  const path = url.startsWith('/') ? url : /^[a-z][a-z0-9+.-]*:\/\/[^/?#]*([/?][^#]*)?/i.exec(url)?.[1] ?? '/';
  return { host, location: `https://${authority}${path}` };
}

/** certbot's webroot token, sent; else the refusal (answered by the caller as a plain 404). */
async function serveChallenge(webroot: string, token: string, req: IncomingMessage, res: ServerResponse): Promise<EdgeError | undefined> {
  if (!TOKEN.test(token) || (req.method !== 'GET' && req.method !== 'HEAD')) return new EdgeError('EDGE_ERR_NO_ROUTE', 'malformed ACME token');
  const dir = join(webroot, '.well-known', 'acme-challenge');
  try {
    // Resolve links and insist the file is still inside the webroot: a symlink must not escape it.
    const [root, file] = await Promise.all([realpath(webroot), realpath(join(dir, token))]);
    if (!file.startsWith(root + sep)) return new EdgeError('EDGE_ERR_NO_ROUTE', 'ACME token outside the webroot');
    sendToken(await readFile(file), req, res);
    return undefined;
  } catch {
    return new EdgeError('EDGE_ERR_NO_ROUTE', 'no such ACME token file');
  }
}

function sendToken(body: Buffer, req: IncomingMessage, res: ServerResponse): void {
  res.statusCode = 200;
  res.setHeader('content-type', 'application/octet-stream');
  res.setHeader('content-length', body.length);
  res.end(req.method === 'HEAD' ? undefined : body);
}
