// Certificate generator for dev (`npm start`), tests and benches: a CA and leaves made with
// the openssl CLI. Nothing secret is committed; every file is generated where it is needed.
import { execFileSync } from 'node:child_process';
import { X509Certificate, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

function openssl(args, cwd) {
  try {
    return execFileSync('openssl', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] }).toString();
  } catch (err) {
    if (err.code === 'ENOENT') throw new Error('openssl is not installed: apt-get install openssl');
    throw new Error(`openssl ${args[0]} failed: ${err.stderr?.toString() ?? err.message}`);
  }
}

function keyArgs(keyType) {
  return keyType === 'rsa' ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048'] : ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256'];
}

/** A self-signed CA (EC P-256). Returns absolute paths { cert, key }. */
export function makeCa(dir, { name = 'Gatehouse Dev CA', days = 3650, basename = 'ca' } = {}) {
  dir = resolve(dir);
  mkdirSync(dir, { recursive: true });
  const key = join(dir, `${basename}-key.pem`);
  const cert = join(dir, `${basename}.pem`);
  openssl(['genpkey', ...keyArgs('ec'), '-out', key]);
  chmodSync(key, 0o600);
  openssl(['req', '-x509', '-new', '-key', key, '-out', cert, '-days', String(days), '-subj', `/CN=${name}`,
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign',
    '-addext', 'subjectKeyIdentifier=hash']);
  return { cert, key };
}

function stamp(date) {
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
}

/**
 * A leaf signed by `ca` for `sans` (DNS names or IPs), with a random serial. Explicit
 * notBefore/notAfter make expired or not-yet-valid leaves. Returns { cert, key, fullchain }.
 */
export function makeLeaf(dir, { ca, basename = 'leaf', sans = ['localhost', '127.0.0.1', '::1'], keyType = 'ec', notBefore, notAfter, days = 825 }) {
  dir = resolve(dir);
  mkdirSync(dir, { recursive: true });
  const key = join(dir, `${basename}-key.pem`);
  const cert = join(dir, `${basename}.pem`);
  const fullchain = join(dir, `${basename}-fullchain.pem`);
  const csr = join(dir, `${basename}.csr`);
  const ext = join(dir, `${basename}.ext`);
  const work = join(dir, `.${basename}-ca`);
  openssl(['genpkey', ...keyArgs(keyType), '-out', key]);
  chmodSync(key, 0o600);
  openssl(['req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${sans[0]}`]);
  const altNames = sans.map((s) => (isIP(s) ? `IP:${s}` : `DNS:${s}`)).join(',');
  writeFileSync(ext, [
    'basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth', `subjectAltName=${altNames}`, 'authorityKeyIdentifier=keyid',
  ].join('\n') + '\n');
  // `openssl ca` is the 3.0-compatible way to set exact validity dates.
  mkdirSync(work, { recursive: true });
  writeFileSync(join(work, 'index.txt'), '');
  writeFileSync(join(work, 'serial'), `${'1' + randomBytes(15).toString('hex').slice(1)}\n`);
  const conf = join(work, 'ca.cnf');
  writeFileSync(conf, [
    '[ca]', 'default_ca=dev', '[dev]', `dir=${work}`, 'database=$dir/index.txt', 'new_certs_dir=$dir',
    'serial=$dir/serial', 'default_md=sha256', 'policy=any', 'unique_subject=no', 'copy_extensions=none',
    '[any]', 'commonName=supplied',
  ].join('\n') + '\n');
  const start = notBefore ?? new Date(Date.now() - 60_000);
  const end = notAfter ?? new Date(start.getTime() + days * 86_400_000);
  openssl(['ca', '-batch', '-config', conf, '-cert', ca.cert, '-keyfile', ca.key, '-in', csr, '-out', cert,
    '-notext', '-startdate', stamp(start), '-enddate', stamp(end), '-extfile', ext]);
  writeFileSync(fullchain, readFileSync(cert, 'utf8') + readFileSync(ca.cert, 'utf8'));
  rmSync(work, { recursive: true, force: true });
  rmSync(csr, { force: true });
  rmSync(ext, { force: true });
  return { cert, key, fullchain };
}

/** Days before expiry at which `ensureDevCerts` makes a new dev leaf. */
const RENEW_DAYS = 30;

/** The certificate's expiry, or undefined when the file is missing or not a certificate. */
function expiryOf(path) {
  try {
    return new Date(new X509Certificate(readFileSync(path)).validTo);
  } catch {
    return undefined;
  }
}

/**
 * Dev certificates for `npm start`: DIR/ca.pem and DIR/localhost{,-key}.pem. An existing CA is
 * kept (a browser or system store may already trust it); the leaf is made when missing,
 * unreadable or within 30 days of expiry, and lands by rename so a running edge never reads
 * half a file.
 */
export function ensureDevCerts(dir) {
  dir = resolve(dir);
  const [caCert, caKey, cert, key] = ['ca.pem', 'ca-key.pem', 'localhost.pem', 'localhost-key.pem'].map((f) => join(dir, f));
  const paths = { ca: caCert, cert, key };
  const haveCa = expiryOf(caCert) !== undefined && existsSync(caKey);
  const leafExpiry = expiryOf(cert);
  if (haveCa && existsSync(key) && leafExpiry !== undefined && leafExpiry.getTime() - Date.now() > RENEW_DAYS * 86_400_000) {
    return { created: false, ...paths };
  }
  const ca = haveCa ? { cert: caCert, key: caKey } : makeCa(dir, { name: 'Gatehouse Dev CA (local only)' });
  const leaf = makeLeaf(dir, { ca, basename: '.localhost-new', sans: ['localhost', '127.0.0.1', '::1'] });
  renameSync(leaf.key, key);
  renameSync(leaf.fullchain, cert);
  rmSync(leaf.cert, { force: true });
  console.log(haveCa
    ? `dev certificate renewed in ${dir} (CA kept: ${caCert})`
    : `dev certificates written to ${dir}: trust ${caCert}, e.g. curl --cacert ${caCert} https://localhost:8443/`);
  return { created: true, ...paths };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const [command, dir = 'certs'] = process.argv.slice(2);
  if (command !== 'dev') {
    console.error('usage: node scripts/certs.mjs dev [DIR]');
    process.exit(2);
  }
  try {
    const r = ensureDevCerts(dir);
    if (!r.created) console.log(`dev certificates already in ${resolve(dir)}`);
  } catch (err) {
    console.error(err.message);
    process.exit(1);
  }
}
