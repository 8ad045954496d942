import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, request } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { testCerts } from './certs.js';
import type { AriAnswer } from './ari-front.js';
import type { Pebble } from './pebble.js';

type Tap = { teardown(fn: () => unknown): void };

/** A newOrder payload as the client signed it (JWS payload, decoded). */
export interface NewOrder {
  readonly identifiers: readonly { readonly type: string; readonly value: string }[];
  readonly profile?: string;
  readonly replaces?: string;
}

/** A problem document (RFC 7807) the relay answers instead of passing a newOrder on. */
export interface Refusal {
  readonly status: number;
  readonly type: string;
  readonly detail: string;
}

export interface AcmeRelay {
  readonly directory: string;
  /** PEM file trusting pebble's HTTPS and the relay's (for tls.acme.ca). */
  readonly caFile: string;
  /** Every newOrder payload, in order, whether passed on or refused. */
  readonly orders: NewOrder[];
  /** Every renewalInfo certID asked. */
  readonly asked: string[];
  /** Decides each newOrder: undefined passes it to pebble. */
  refuse: (order: NewOrder) => Refusal | undefined;
  ari: (certId: string) => AriAnswer;
}

/**
 * Pebble 2.4 has neither ACME profiles nor ARI, and cannot show what a newOrder carried. This
 * loopback HTTPS relay (the test CA's certificate) sits in front of all of it: every request is
 * passed to pebble with the relay's Host, so pebble names the relay in every URL it hands out and
 * the JWS `url` of each request matches (RFC 8555 §6.4); the directory gains `meta.profiles` and
 * `renewalInfo`; each newOrder's payload is recorded and may be refused with a problem document.
 */
export async function startAcmeRelay(t: Tap, dir: string, pebble: Pebble, profiles: Readonly<Record<string, string>>): Promise<AcmeRelay> {
  const certs = await testCerts();
  const upstream = new URL(pebble.directory);
  let base = '';
  let newOrderPath = '';
  const pass = (method: string, path: string, headers: Record<string, string | string[] | undefined>, body: Buffer): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const req = request({ host: upstream.hostname, port: upstream.port, method, path, headers, ca: pebble.caPem, servername: 'localhost', timeout: 15_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('timeout', () => req.destroy(new Error('pebble did not answer within 15 s')));
      req.on('error', reject);
      req.end(body);
    });
  const server = createServer({ cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const body = Buffer.concat(chunks);
        const path = req.url ?? '/';
        const json = (status: number, value: unknown, type = 'application/json'): void => void res.writeHead(status, { 'content-type': type }).end(JSON.stringify(value));
        const ariId = /^\/renewal-info\/([^/?]+)$/.exec(path)?.[1];
        if (req.method === 'GET' && ariId !== undefined) {
          relay.asked.push(ariId);
          const a = relay.ari(ariId);
          res.writeHead(a.status, { 'content-type': 'application/json', ...(a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter }) }).end(JSON.stringify(a.body ?? {}));
          return;
        }
        if (req.method === 'POST' && path === newOrderPath) {
          const jws = JSON.parse(body.toString()) as { payload: string };
          const order = JSON.parse(Buffer.from(jws.payload, 'base64url').toString()) as NewOrder;
          relay.orders.push(order);
          const refusal = relay.refuse(order);
          if (refusal !== undefined) return void json(refusal.status, { type: refusal.type, detail: refusal.detail, status: refusal.status }, 'application/problem+json');
        }
        const answer = await pass(req.method ?? 'GET', path, { ...req.headers, host: req.headers.host }, body);
        if (req.method === 'GET' && path === upstream.pathname) {
          const directory = JSON.parse(answer.body.toString()) as { newOrder: string; meta?: object };
          newOrderPath = new URL(directory.newOrder).pathname;
          return void json(200, { ...directory, renewalInfo: `${base}/renewal-info`, meta: { ...directory.meta, profiles } });
        }
        const headers = { ...answer.headers };
        delete headers['content-length'];
        delete headers['transfer-encoding'];
        delete headers.connection;
        res.writeHead(answer.status, headers).end(answer.body);
      })().catch((err: unknown) => void res.writeHead(502).end(String(err)));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caFile = join(dir, 'acme-relay-ca.pem');
  writeFileSync(caFile, `${pebble.caPem.trim()}\n${certs.caPem.trim()}\n`);
  const relay: AcmeRelay = { directory: `${base}${upstream.pathname}`, caFile, orders: [], asked: [], refuse: () => undefined, ari: () => ({ status: 404, body: {} }) };
  return relay;
}
