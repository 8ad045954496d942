// The ARI path when the ACME directory itself cannot be reached at renewal-planning time: no
// pebble needed, a closed loopback port is the CA (seconds, not the minute of acme-ari.test.ts).
import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { thirdLeft } from '../src/tls/acme/state.js';
import { testCerts } from './helpers/certs.js';
import { startEdge, tempDir } from './helpers/edge.js';
import { deadPort } from './helpers/net.js';

t.test('an unreachable directory at planning time is logged once as acme-ari, and every stored certificate is planned by the one-third rule', async (t) => {
  const certs = await testCerts();
  const storage = join(tempDir(t, 'gatehouse-acme-'), 'acme');
  // Two hosts with certificates already stored: the round plans their renewal, which needs the directory.
  const stored = { 'app.test': certs.a, 'other.test': certs.b };
  for (const [host, pair] of Object.entries(stored)) {
    mkdirSync(join(storage, 'certs', host), { recursive: true });
    copyFileSync(pair.cert, join(storage, 'certs', host, 'fullchain.pem'));
    copyFileSync(pair.key, join(storage, 'certs', host, 'privkey.pem'));
  }
  const directory = `https://127.0.0.1:${await deadPort()}/dir`;
  const running = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  acme: { directory: "${directory}", storage: "${storage}", challenge: tls-alpn-01, hosts: [app.test, other.test] }
upstreams: { app: { targets: ["127.0.0.1:9"] } }
sites: [{ hosts: [app.test, other.test], routes: [{ path: /, upstream: app }] }]
`);
  const started = Date.now();
  const line = await running.logs.next((l) => l.event === 'acme-ari', 10_000);
  const acmeLogs = JSON.stringify(running.logs.lines.filter((l) => String(l.event).startsWith('acme')));
  t.ok(line !== undefined, `an acme-ari line\n${acmeLogs}`);
  t.equal(line?.level, 40, 'a warning');
  t.equal(line?.directory, directory, 'naming the directory');
  t.match(String(line?.err), /ECONNREFUSED/, 'and why it failed');

  // The plan is in state.json once the round wrote it.
  const state = async (): Promise<Record<string, { renewAt: number | null; renewSerial: string | null; ariRecheckAt: number | null }>> => {
    for (const until = Date.now() + 10_000; Date.now() < until; await new Promise((r) => setTimeout(r, 50))) {
      try {
        const s = JSON.parse(readFileSync(join(storage, 'state.json'), 'utf8')) as Awaited<ReturnType<typeof state>>;
        if (Object.keys(stored).every((h) => s[h]?.renewSerial != null)) return s;
      } catch {
        // not written yet
      }
    }
    throw new Error(`no plan in state.json\n${acmeLogs}`);
  };
  const plans = await state();
  for (const [host, pair] of Object.entries(stored)) {
    const x509 = new X509Certificate(readFileSync(pair.cert));
    const plan = plans[host];
    t.equal(plan?.renewSerial, x509.serialNumber, `${host}: planned for its stored certificate`);
    t.equal(plan?.renewAt, thirdLeft(Date.parse(x509.validFrom), Date.parse(x509.validTo)), `${host}: renews when a third of its lifetime is left`);
    t.ok((plan?.ariRecheckAt ?? 0) >= started + 3_600_000, `${host}: the directory is asked again in an hour`);
  }
  t.equal(running.logs.lines.filter((l) => l.event === 'acme-ari').length, 1, 'one line for the one attempt, however many hosts it planned');
  t.notOk(running.logs.find((l) => l.event === 'acme-order'), 'nothing ordered: the stored certificates are valid');
});
