import { spawnSync } from 'node:child_process';
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ensureDevCerts, makeLeaf } from '../scripts/certs.mjs';
import { tempDir } from './helpers/edge.js';

/* The dev certificates `npm start` makes: a kept CA, a renewed leaf, clean errors. */

const cert = (path: string): X509Certificate => new X509Certificate(readFileSync(path));
const silently = <T>(fn: () => T): T => {
  const log = console.log;
  console.log = () => {};
  try {
    return fn();
  } finally {
    console.log = log;
  }
};

t.test('first run makes a CA and a leaf it signed, for localhost and loopback', async (t) => {
  const dir = tempDir(t);
  const made = silently(() => ensureDevCerts(dir));
  t.equal(made.created, true);
  const ca = cert(made.ca);
  const leaf = cert(made.cert);
  t.ok(leaf.checkIssued(ca) && leaf.verify(ca.publicKey), 'leaf signed by the dev CA');
  t.ok(leaf.checkHost('localhost') && leaf.checkIP('127.0.0.1') && leaf.checkIP('::1'), 'names served');
  t.ok(leaf.checkPrivateKey(createPrivateKey(readFileSync(made.key))), 'key matches');
  t.equal(statSync(made.key).mode & 0o777, 0o600, 'key is private');
  t.match(readFileSync(made.cert, 'utf8'), /(-----BEGIN CERTIFICATE-----[^]*){2}/, 'leaf file carries the chain, like fullchain.pem');
});

t.test('a second run changes nothing', async (t) => {
  const dir = tempDir(t);
  const first = silently(() => ensureDevCerts(dir));
  const before = readFileSync(first.cert, 'utf8');
  const again = silently(() => ensureDevCerts(dir));
  t.equal(again.created, false);
  t.equal(readFileSync(again.cert, 'utf8'), before);
});

t.test('a missing leaf is re-made under the same CA, which stays trusted', async (t) => {
  const dir = tempDir(t);
  const first = silently(() => ensureDevCerts(dir));
  const caBefore = readFileSync(first.ca, 'utf8');
  const serialBefore = cert(first.cert).serialNumber;
  rmSync(first.cert);
  const again = silently(() => ensureDevCerts(dir));
  t.equal(again.created, true);
  t.equal(readFileSync(again.ca, 'utf8'), caBefore, 'CA untouched');
  t.not(cert(again.cert).serialNumber, serialBefore, 'new leaf');
  t.ok(cert(again.cert).verify(cert(again.ca).publicKey), 'signed by the kept CA');
});

t.test('a leaf near expiry or unreadable is renewed', async (t) => {
  const dir = tempDir(t);
  const first = silently(() => ensureDevCerts(dir));
  const ca = { cert: first.ca, key: join(dir, 'ca-key.pem') };
  const soon = makeLeaf(dir, { ca, basename: 'soon', notAfter: new Date(Date.now() + 5 * 86_400_000) });
  writeFileSync(first.cert, readFileSync(soon.fullchain));
  writeFileSync(first.key, readFileSync(soon.key));
  const renewed = silently(() => ensureDevCerts(dir));
  t.equal(renewed.created, true);
  t.ok(new Date(cert(renewed.cert).validTo).getTime() > Date.now() + 365 * 86_400_000, 'fresh validity');
  t.ok(cert(renewed.cert).checkPrivateKey(createPrivateKey(readFileSync(renewed.key))), 'key and certificate renewed together');

  writeFileSync(renewed.cert, 'half a certificate');
  t.equal(silently(() => ensureDevCerts(dir)).created, true, 'garbage is replaced');
  t.ok(cert(renewed.cert).verify(cert(renewed.ca).publicKey));
});

t.test('without openssl the command says what to install, no stack trace', async (t) => {
  const dir = tempDir(t);
  const script = join(import.meta.dirname, '..', 'scripts', 'certs.mjs');
  const r = spawnSync(process.execPath, [script, 'dev', dir], { env: { PATH: '/nonexistent' }, encoding: 'utf8' });
  t.equal(r.status, 1);
  t.match(r.stderr, /openssl is not installed: apt-get install openssl/);
  t.notMatch(r.stderr, /\n\s+at /, 'no stack trace');
});
