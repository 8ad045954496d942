// Post-quantum key exchange where the runtime has it: with OpenSSL 3.5 (Node 22.20+, 24, 26)
// Gatehouse offers X25519MLKEM768 first, and a client that offers nothing else still gets a
// TLS 1.3 handshake; on OpenSSL 3.0 (Node 20) the classic groups are used. Either way a client
// limited to a classic group is still served, and the groups are named in `check` and the
// start log.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { connect, type ConnectionOptions, type TLSSocket } from 'node:tls';
import t from 'tap';
import { HYBRID_GROUP, keyExchangeGroups, supportsHybrid } from '../src/tls/groups.js';
import { basicConfig, startEdge } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { deadPort } from './helpers/net.js';
import { CLI } from './helpers/process.js';

/** A TLS 1.3 handshake with the test CA trusted; resolves with the group it used (undefined when the runtime does not say). */
async function handshake(port: number, options: ConnectionOptions): Promise<{ group: string | undefined; protocol: string | null }> {
  const { caPem } = await testCerts();
  return new Promise((resolve, reject) => {
    const socket: TLSSocket = connect({ host: '127.0.0.1', port, servername: 'localhost', ca: caPem, minVersion: 'TLSv1.3', ...options }, () => {
      // Node 24+ names a TLS 1.3 group (also the hybrid); Node 22 returns {} for the hybrid.
      const info = socket.getEphemeralKeyInfo() as { name?: string } | null;
      const result = { group: info?.name, protocol: socket.getProtocol() };
      socket.destroy();
      resolve(result);
    });
    socket.once('error', reject);
  });
}

/** OpenSSL 3.5 added ML-KEM: the runtime's version says whether it must be there (no skip either way). */
function opensslHasMlKem(): boolean {
  const [major = 0, minor = 0] = process.versions.openssl.split('.').map((n) => Number.parseInt(n, 10));
  return major > 3 || (major === 3 && minor >= 5);
}

t.test('key exchange: hybrid post-quantum where OpenSSL has it, classic groups otherwise', async (t) => {
  // Decided from the OpenSSL version, not from the probe under test: an OpenSSL 3.5+ build
  // without the hybrid fails here instead of quietly taking the classic branch.
  t.equal(supportsHybrid(), opensslHasMlKem(), `OpenSSL ${process.versions.openssl}: ${HYBRID_GROUP} ${opensslHasMlKem() ? 'expected' : 'not expected (3.5+: Node 22.20+, 24, 26)'}`);
  const running = await startEdge(t, basicConfig([`127.0.0.1:${await deadPort()}`]));
  if (opensslHasMlKem()) {
    const only = await handshake(running.port, { ecdhCurve: HYBRID_GROUP });
    t.equal(only.protocol, 'TLSv1.3', `a client offering only ${HYBRID_GROUP} completes a TLS 1.3 handshake`);
    if (only.group !== undefined) t.equal(only.group, HYBRID_GROUP, `the negotiated group is ${HYBRID_GROUP}`);
    else t.comment(`Node ${process.version} does not report the group name; the restricted handshake completing shows it`);
  } else {
    const usual = await handshake(running.port, {});
    t.equal(usual.group, 'X25519', 'a default client negotiates X25519');
  }
  const classic = await handshake(running.port, { ecdhCurve: 'P-256' });
  t.equal(classic.protocol, 'TLSv1.3', 'a client limited to P-256 is still served');
  t.not(classic.group, HYBRID_GROUP, 'and not with the hybrid');
  const start = await running.logs.next((l) => l.event === 'start');
  t.same(start?.groups, keyExchangeGroups(), 'the start log names the groups');
  t.equal((start?.groups as string[] | undefined)?.[0] === HYBRID_GROUP, opensslHasMlKem(), 'hybrid first exactly where OpenSSL has it');
});

t.test('check names the key-exchange groups', async (t) => {
  const running = await startEdge(t, basicConfig(['127.0.0.1:3000']));
  const file = join(running.dir, 'gatehouse.yaml');
  const r = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', timeout: 20_000 });
  t.equal(r.status, 0, r.stdout + r.stderr);
  t.match(r.stdout, `key exchange: ${keyExchangeGroups().join(', ')}`);
  t.match(r.stdout, opensslHasMlKem() ? 'post-quantum hybrid first' : `lacks ${HYBRID_GROUP}`);
});
