import type { IncomingHttpHeaders } from 'node:http';
import type { ForwardAuthConfig } from '../../config/guard.js';
import type { TimeoutsConfig } from '../../config/types.js';
import type { EdgeError } from '../../errors.js';
import type { UpstreamClient, UpstreamRequest, UpstreamSink } from '../../upstream/client.js';
import type { Upstream } from '../../upstream/targets.js';
import type { ResponseHead } from '../../upstream/response-parser.js';
import { expand, type RequestContext } from '../expand.js';
import type { Denial } from './answer.js';

/** An auth answer is a verdict and maybe a login page; more than this is not relayed. */
const MAX_AUTH_BODY = 64 * 1024;

/** What the auth service is asked about: the request as the route's upstream would get it. */
export interface ForwardQuestion {
  readonly method: string;
  readonly uri: string;
  readonly host: string;
  readonly clientIp: string;
  /** Upstream-bound headers (sanitised, forwarded headers set); copyHeaders land here on a 2xx. */
  readonly headers: IncomingHttpHeaders;
}

type Outcome = { readonly head: ResponseHead; readonly body: Buffer } | { readonly error: EdgeError };

/** Collects the auth service's answer; nothing of it goes to the client until the verdict is in. */
class AnswerSink implements UpstreamSink {
  readonly source = undefined;
  #head: ResponseHead | undefined;
  readonly #chunks: Buffer[] = [];
  #size = 0;
  readonly #done: (outcome: Outcome) => void;

  constructor(done: (outcome: Outcome) => void) {
    this.#done = done;
  }

  gone(): boolean {
    return false;
  }

  head(head: ResponseHead): void {
    this.#head = head;
  }

  body(chunk: Buffer): boolean {
    this.#size += chunk.length;
    if (this.#size <= MAX_AUTH_BODY) this.#chunks.push(chunk);
    return true;
  }

  end(tail: Buffer | undefined): void {
    if (tail !== undefined) this.body(tail);
    // An oversized page is dropped, not cut: the status and fields still say what to do.
    if (this.#head !== undefined) this.#done({ head: this.#head, body: this.#size > MAX_AUTH_BODY ? Buffer.alloc(0) : Buffer.concat(this.#chunks) });
  }

  upgrade(socket: { destroy(): void }): void {
    socket.destroy();
  }

  fail(error: EdgeError): void {
    this.#done({ error });
  }
}

/** What `signIn`'s placeholders read (config/guard.ts allows only these): the request as it came, on HTTPS. */
function signInContext(q: ForwardQuestion): RequestContext {
  return { scheme: 'https', host: q.host, port: 0, uri: q.uri, path: q.uri, restStart: 0, remoteAddr: q.clientIp, requestId: '', headers: q.headers, match: null };
}

/**
 * `auth.forward` (README "Access control"; nginx auth_request, Traefik ForwardAuth, Caddy forward_auth): a GET
 * with the original headers and X-Forwarded-Method/-Proto/-Host/-Uri/-For goes to `upstream` +
 * `path` through the one upstream client (pool, timeouts, failover). 2xx: the request goes on
 * with `copyHeaders` from the answer; a 401 becomes a 302 to `signIn` when it is set; anything
 * else goes back to the client as it is.
 */
export class ForwardAuth {
  readonly #config: ForwardAuthConfig;
  readonly #upstream: Upstream;
  readonly #client: UpstreamClient;
  readonly #timeouts: TimeoutsConfig;

  constructor(config: ForwardAuthConfig, upstream: Upstream, client: UpstreamClient, timeouts: TimeoutsConfig) {
    this.#config = config;
    this.#upstream = upstream;
    this.#client = client;
    this.#timeouts = timeouts;
  }

  async check(q: ForwardQuestion): Promise<Denial | undefined> {
    // Always first, whatever the verdict: a client must not be able to pose as the auth answer.
    for (const name of this.#config.copyHeaders) delete q.headers[name];
    const headers: IncomingHttpHeaders = { ...q.headers };
    for (const name of ['content-length', 'transfer-encoding', 'expect', 'sec-websocket-key', 'sec-websocket-extensions']) delete headers[name];
    headers['x-forwarded-method'] = q.method;
    headers['x-forwarded-proto'] = 'https';
    headers['x-forwarded-host'] = q.host;
    headers['x-forwarded-uri'] = q.uri;
    headers['x-forwarded-for'] ??= q.clientIp;
    const outcome = await this.#ask(headers, q.clientIp);
    if ('error' in outcome) {
      const e = outcome.error;
      return { code: e.code, status: e.status, reason: `auth service: ${e.text}`, rule: `auth.forward ${this.#config.upstream}`, headers: [] };
    }
    const { head, body } = outcome;
    if (head.status >= 200 && head.status < 300) {
      for (let i = 0; i < head.headers.length; i += 2) {
        const name = (head.headers[i] as string).toLowerCase();
        if (!this.#config.copyHeaders.includes(name)) continue;
        const value = head.headers[i + 1] as string;
        const had = q.headers[name];
        q.headers[name] = had === undefined ? value : `${Array.isArray(had) ? had.join(', ') : had}, ${value}`;
      }
      return undefined;
    }
    if (head.status === 401 && this.#config.signIn !== null) {
      const location = expand(this.#config.signIn, signInContext(q));
      // null only for a value with CR or LF (a header placeholder): the 401 then goes as it is.
      if (location !== null) {
        return { code: null, status: 302, reason: 'auth service answered 401: sent to sign in', rule: `auth.forward ${this.#config.upstream} signIn`, headers: [['location', location]], body: Buffer.alloc(0) };
      }
    }
    const pairs: [string, string][] = [];
    for (let i = 0; i < head.headers.length; i += 2) pairs.push([head.headers[i] as string, head.headers[i + 1] as string]);
    return { code: null, status: head.status, reason: `auth service answered ${head.status}`, rule: `auth.forward ${this.#config.upstream}`, headers: pairs, body };
  }

  #ask(headers: IncomingHttpHeaders, clientIp: string): Promise<Outcome> {
    return new Promise((resolve) => {
      const request: UpstreamRequest = {
        method: 'GET', path: this.#config.path, headers, body: 'none',
        upstream: this.#upstream, key: this.#upstream.requestKey(clientIp),
        connectTimeout: this.#timeouts.connect, responseTimeout: this.#timeouts.response, bodyTimeout: this.#timeouts.idle,
      };
      this.#client.send(request, new AnswerSink(resolve));
    });
  }
}
