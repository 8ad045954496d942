import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { makeCa, makeLeaf } from '../../scripts/certs.mjs';

export interface TestLeaf {
  /** Full chain (leaf + CA), as certbot's fullchain.pem. */
  readonly cert: string;
  readonly key: string;
  readonly leafOnly: string;
  /** As node's X509Certificate.serialNumber reports it. */
  readonly serial: string;
  readonly fingerprint256: string;
}

export interface TestCerts {
  readonly dir: string;
  readonly ca: { readonly cert: string; readonly key: string };
  readonly caPem: string;
  /** localhost, 127.0.0.1, ::1, app.test, *.wild.test */
  readonly a: TestLeaf;
  /** The same names as `a`, another key and serial: the renewal in swap tests. */
  readonly a2: TestLeaf;
  /** other.test */
  readonly b: TestLeaf;
  readonly rsa: TestLeaf;
  /** localhost, app.test; valid only in 2020. */
  readonly expired: TestLeaf;
  /** Not PEM at all. */
  readonly garbage: string;
  /** The first half of a's full chain. */
  readonly truncated: string;
}

let made: Promise<TestCerts> | undefined;

/** The test PKI, generated once per process into a temp dir removed at exit. */
export function testCerts(): Promise<TestCerts> {
  made ??= Promise.resolve().then(generate);
  return made;
}

function generate(): TestCerts {
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-pki-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const ca = makeCa(dir, { name: 'Gatehouse Test CA' });
  const leaf = (basename: string, sans: readonly string[], extra: { keyType?: 'ec' | 'rsa'; notBefore?: Date; notAfter?: Date } = {}): TestLeaf => {
    const l = makeLeaf(dir, { ca, basename, sans, ...extra });
    const x509 = new X509Certificate(readFileSync(l.cert));
    return { cert: l.fullchain, key: l.key, leafOnly: l.cert, serial: x509.serialNumber, fingerprint256: x509.fingerprint256 };
  };
  const names = ['localhost', '127.0.0.1', '::1', 'app.test', '*.wild.test'];
  const a = leaf('a', names);
  const garbage = join(dir, 'garbage.pem');
  writeFileSync(garbage, 'this is not a certificate\n\x00\x01\x02');
  const truncated = join(dir, 'truncated.pem');
  const full = readFileSync(a.cert, 'utf8');
  writeFileSync(truncated, full.slice(0, Math.floor(full.length / 2)));
  return {
    dir, ca, caPem: readFileSync(ca.cert, 'utf8'), a,
    a2: leaf('a2', names),
    b: leaf('b', ['other.test']),
    rsa: leaf('rsa', ['localhost', 'app.test'], { keyType: 'rsa' }),
    expired: leaf('expired', ['localhost', 'app.test'], { notBefore: new Date('2020-01-01T00:00:00Z'), notAfter: new Date('2020-02-01T00:00:00Z') }),
    garbage, truncated,
  };
}
