import { X509Certificate } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import t from 'tap';
import { startEdge, type RunningEdge } from './helpers/edge.js';
import { HOST_A as A, HOST_B as B, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';

/*
 * Gatehouse's own ACME client against a real CA on loopback: pebble, with challtestsrv as its
 * DNS (every name is 127.0.0.1), validating through Gatehouse's real :80 and :443 listeners.
 */
const skip = pebbleSkip();

t.test('a config with only tls.acme gets certificates for two hosts through HTTP-01 on :80', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  const edge: RunningEdge = await startEdge(t, s.config());
  const serialA = await until(() => servedSerial(s.https, A, s.root), () => `a pebble certificate for ${A}\n${s.pebble.output()}`);
  const serialB = await until(() => servedSerial(s.https, B, s.root), `a pebble certificate for ${B}`);
  t.not(serialA, serialB, 'one certificate per host');
  const stored = new X509Certificate(readFileSync(join(s.storage, 'certs', A, 'fullchain.pem')));
  t.equal(stored.serialNumber, serialA, 'the served certificate is the one in storage');
  t.equal(statSync(join(s.storage, 'certs', A, 'privkey.pem')).mode & 0o777, 0o600, 'the key is mode 0600');
  t.equal(s.pebble.orders(), 2, 'two orders');
  const issued = edge.logs.find((l) => l.event === 'acme-issued' && l.host === A);
  t.ok(issued, 'issuance logged');
  t.comment(`issued in ${String(issued?.tookMs)} ms`);
  // Still a redirect for everything else on :80.
  const status = await new Promise<number>((resolve, reject) => {
    request({ host: '127.0.0.1', port: s.http, path: '/x', headers: { host: A } }, (res) => { res.resume(); resolve(res.statusCode ?? 0); }).on('error', reject).end();
  });
  t.equal(status, 301);
});

t.test('TLS-ALPN-01 is answered on :443 only for acme-tls/1 clients; everyone else gets the real certificate', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  // No :80 at all: tls-alpn-01 needs only the HTTPS listener.
  const edge = await startEdge(t, s.config({ http: false, challenge: 'tls-alpn-01' }));
  const serial = await until(() => servedSerial(s.https, A, s.root), () => `a pebble certificate for ${A}\n${s.pebble.output()}\n${JSON.stringify(edge.logs.lines)}`);
  await until(() => servedSerial(s.https, B, s.root), `a pebble certificate for ${B}`);
  t.equal(new X509Certificate(readFileSync(join(s.storage, 'certs', A, 'fullchain.pem'))).serialNumber, serial);
  t.equal(await servedSerial(s.https, A, s.root, ['h2', 'http/1.1']), serial, 'a browser-like ALPN list gets the issued certificate');
  t.ok(edge.logs.find((l) => l.event === 'acme-order' && l.challenge === 'tls-alpn-01'), 'ordered with tls-alpn-01 (there is no :80 to validate through)');
  t.same(readdirSync(join(s.storage, 'challenges', 'tls-alpn-01')), [], 'challenge certificates are removed after validation');
  // With no challenge pending, an acme-tls/1 client gets no certificate at all, not the real one.
  await t.rejects(servedSerial(s.https, A, s.root, ['acme-tls/1']), 'acme-tls/1 without a pending challenge fails the handshake');
});
