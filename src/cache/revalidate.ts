import type { Exchange } from '../proxy/forward.js';
import type { UpstreamClient, UpstreamRequest, UpstreamSink } from '../upstream/client.js';
import type { ResponseHead } from '../upstream/response-parser.js';
import { FillTap, type TapOwner, type Trip } from './tap.js';

/**
 * RFC 5861 §3 stale-while-revalidate: the client already has the stale answer; this request
 * refreshes the entry behind its back, through the same attempt path and the same tap as a
 * foreground miss, with nobody to write to.
 */
export function refreshInBackground(cache: TapOwner, upstreams: UpstreamClient, exchange: Exchange, trip: Trip): void {
  const stale = trip.stale;
  const headers = { ...exchange.headers };
  delete headers['if-none-match'];
  delete headers['if-modified-since'];
  if (stale?.etag !== undefined) headers['if-none-match'] = stale.etag;
  if (stale?.lastModified !== undefined) headers['if-modified-since'] = stale.lastModified;
  const conditional = stale?.etag !== undefined || stale?.lastModified !== undefined;
  const request: UpstreamRequest = {
    method: 'GET', path: exchange.path, headers, body: 'none', upstream: exchange.upstream, key: exchange.key,
    connectTimeout: exchange.connectTimeout, responseTimeout: exchange.responseTimeout, bodyTimeout: exchange.bodyTimeout,
  };
  upstreams.send(request, new RefreshSink(new FillTap(cache, { ...trip, method: 'GET', headers, conditional })));
}

class RefreshSink implements UpstreamSink {
  readonly source = undefined;
  readonly #tap: FillTap;

  constructor(tap: FillTap) {
    this.#tap = tap;
  }

  gone(): boolean {
    return false;
  }

  head(head: ResponseHead): void {
    this.#tap.head(head);
  }

  body(chunk: Buffer): boolean {
    this.#tap.body(chunk);
    return true;
  }

  end(tail: Buffer | undefined): void {
    if (tail !== undefined) this.#tap.body(tail);
    this.#tap.end();
  }

  upgrade(socket: import('node:net').Socket): void {
    socket.destroy();
  }

  fail(): void {
    this.#tap.abort();
  }
}
