import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { testCerts } from './certs.js';
import { fetchText } from './net.js';
import type { Pebble } from './pebble.js';

type Tap = { teardown(fn: () => unknown): void };

/** What the front answers to `GET <renewalInfo>/<certID>`. */
export interface AriAnswer {
  /** 0: no answer, the connection is cut (renewalInfo unreachable). */
  readonly status: number;
  readonly body?: unknown;
  readonly retryAfter?: string;
}

export interface AriFront {
  /** The ACME directory Gatehouse is given: pebble's own, plus renewalInfo pointing here. */
  readonly directory: string;
  /** PEM file trusting both pebble's HTTPS and the front's (for tls.acme.ca). */
  readonly caFile: string;
  /** Every certID asked, in order. */
  readonly asked: string[];
  /** Swapped by the test to move the window or break the answer. */
  answer: (certId: string) => AriAnswer;
}

/** A renewalInfo body (RFC 9773 §4.2) for the window [start, end]. */
export function suggestedWindow(start: number, end: number): { suggestedWindow: { start: string; end: string } } {
  return { suggestedWindow: { start: new Date(start).toISOString(), end: new Date(end).toISOString() } };
}

/**
 * The RFC 9773 §4.1 CertID as openssl reads the certificate (not Gatehouse's DER walk):
 * base64url(AKI keyIdentifier) "." base64url(serial as DER INTEGER content, leading 00 when the top bit is set).
 */
export function opensslCertId(pem: string): string {
  const text = execFileSync('openssl', ['x509', '-noout', '-ext', 'authorityKeyIdentifier', '-serial'], { input: pem }).toString();
  const keyId = /([0-9A-F]{2}(?::[0-9A-F]{2})+)/.exec(text)?.[1]?.replaceAll(':', '') ?? '';
  let serial = /serial=([0-9A-F]+)/.exec(text)?.[1] ?? '';
  if (serial.length % 2 === 1) serial = `0${serial}`;
  if (Number.parseInt(serial.slice(0, 2), 16) >= 0x80) serial = `00${serial}`;
  if (keyId === '' || serial === '') throw new Error(`openssl found no AKI or serial:\n${text}`);
  return `${Buffer.from(keyId, 'hex').toString('base64url')}.${Buffer.from(serial, 'hex').toString('base64url')}`;
}

/**
 * Pebble 2.4 has no ARI, so the test puts this loopback HTTPS server (the test CA's certificate)
 * in front of it: its directory is pebble's directory JSON — every endpoint still pointing at
 * pebble — with a `renewalInfo` URL added that points here, where the test decides the answer.
 * Closed at teardown.
 */
export async function startAriFront(t: Tap, dir: string, pebble: Pebble, answer: AriFront['answer']): Promise<AriFront> {
  const certs = await testCerts();
  const asked: string[] = [];
  let base = '';
  const server = createServer({ cert: readFileSync(certs.a.cert), key: readFileSync(certs.a.key) }, (req, res) => {
    req.resume();
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(body === undefined ? '' : JSON.stringify(body));
    };
    if (req.method === 'GET' && req.url === '/dir') {
      fetchText(pebble.directory, pebble.caPem).then((r) => send(200, { ...(JSON.parse(r.body) as object), renewalInfo: `${base}/renewal-info` }), () => send(502, { detail: 'pebble down' }));
      return;
    }
    const id = /^\/renewal-info\/([^/?]+)$/.exec(req.url ?? '')?.[1];
    if (req.method === 'GET' && id !== undefined) {
      asked.push(id);
      const a = front.answer(id);
      if (a.status === 0) {
        req.socket.destroy();
        return;
      }
      send(a.status, a.body, a.retryAfter === undefined ? {} : { 'retry-after': a.retryAfter });
      return;
    }
    send(404, { detail: 'not here' });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }));
  base = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const caFile = join(dir, 'ari-front-ca.pem');
  writeFileSync(caFile, `${pebble.caPem.trim()}\n${certs.caPem.trim()}\n`);
  const front: AriFront = { directory: `${base}/dir`, caFile, asked, answer };
  return front;
}
