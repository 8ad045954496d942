// https:// targets: the upstream's certificate is verified (system store by default, or the
// upstream's tls.ca), by its host name or tls.servername; requests, WebSockets and health
// checks all go over TLS, and keep-alive reuse works as for plain targets.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import t from 'tap';
import { testCerts, type TestLeaf } from './helpers/certs.js';
import { loadConfig } from '../src/config/load.js';
import { startEdge, tempDir, writeConfigFile } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startUpstream, type Upstream } from './helpers/upstream.js';

type Tap = { teardown(fn: () => unknown): void };

/** A backend on `leaf`, and the test CA written to a file in a fresh folder (for tls.ca). */
async function setup(tap: Tap & Parameters<typeof tempDir>[0], leaf: (c: Awaited<ReturnType<typeof testCerts>>) => TestLeaf): Promise<{ backend: Upstream; caFile: string }> {
  const certs = await testCerts();
  const backend = await httpsBackend(tap, leaf(certs));
  const caFile = join(tempDir(tap), 'upstream-ca.pem');
  writeFileSync(caFile, certs.caPem);
  return { backend, caFile };
}

/** An HTTPS + WSS backend on the given test leaf: answers "tls <servername>", echoes WebSocket messages as `tls:MESSAGE`. */
function httpsBackend(tap: Tap, leaf: TestLeaf): Promise<Upstream> {
  return startUpstream(tap, {
    name: 'tls', ws: 'echo', tls: { cert: readFileSync(leaf.cert), key: readFileSync(leaf.key) },
    answer: (req, res) => res.end(`tls ${(req.socket as TLSSocket).servername || '-'}`),
  });
}

function config(target: string, tls: string, extra = ''): string {
  return `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams:
  app:
    targets: ["${target}"]
${tls === '' ? '' : `    tls: ${tls}\n`}${extra}
sites:
  - hosts: [localhost]
    routes: [{ path: /, upstream: app }]
`;
}

t.test('an https target on a private CA: requests, reuse, WebSockets and health checks over verified TLS', async (t) => {
  const { backend, caFile } = await setup(t, (c) => c.a);
  const { port, logs } = await startEdge(t, config(`https://localhost:${backend.port}`, `{ ca: "${caFile}" }`, '    healthCheck: { path: /health, interval: 100ms, timeout: 1s }'));
  for (let i = 0; i < 3; i++) {
    const reply = await get(port, `/n${i}`);
    t.equal(reply.status, 200);
    t.equal(reply.body, 'tls localhost', 'SNI is the target host');
  }
  t.ok(backend.seen.some((r) => r.url === '/health'), 'the health check reached it over TLS');
  await new Promise((r) => setTimeout(r, 250));
  t.equal((await get(port, '/after-probes')).status, 200, 'still healthy after several probes');
  t.ok(backend.servernames.every((n) => n === 'localhost'));

  const ws = await openWs(port, '/ws', { origin: 'https://localhost' });
  t.equal(await roundTrip(ws, 'hi'), 'tls:hi', 'WebSocket relayed through a wss upstream');
  ws.close();
  t.notOk(logs.find((l) => l.level === 50 || l.status === 502), 'no upstream errors');
});

t.test('keep-alive reuse to an https target: one TLS connection for many requests', async (t) => {
  const { backend, caFile } = await setup(t, (c) => c.a);
  const { port } = await startEdge(t, config(`https://127.0.0.1:${backend.port}`, `{ ca: "${caFile}" }`));
  for (let i = 0; i < 5; i++) t.equal((await get(port, '/')).body, 'tls -', 'an IP target sends no SNI and is checked against the IP SAN');
  t.equal(backend.connections, 1, 'one upstream TLS connection carried all five');
});

t.test('verification is on: an unknown CA or a wrong name is a 502, and tls.servername fixes the name', async (t) => {
  const { backend, caFile } = await setup(t, (c) => c.b); // b is issued for other.test only

  const untrusted = await startEdge(t, config(`https://127.0.0.1:${backend.port}`, ''));
  t.equal((await get(untrusted.port, '/')).status, 502, 'the system store does not know the test CA');
  t.match(String(untrusted.logs.find((l) => l.status === 502)?.err), /certificate/i, 'the log says why');

  const wrongName = await startEdge(t, config(`https://127.0.0.1:${backend.port}`, `{ ca: "${caFile}" }`));
  t.equal((await get(wrongName.port, '/')).status, 502, 'trusted CA, but the certificate is not for 127.0.0.1');
  t.match(String((await wrongName.logs.next((l) => l.status === 502))?.err), /altnames/, 'the log says the name, not the CA, is wrong');

  const named = await startEdge(t, config(`https://127.0.0.1:${backend.port}`, `{ ca: "${caFile}", servername: other.test }`));
  const reply = await get(named.port, '/');
  t.equal(reply.status, 200);
  t.equal(reply.body, 'tls other.test', 'SNI and the checked name are tls.servername');
  const ws = await openWs(named.port, '/', { origin: 'https://localhost' });
  t.equal(await roundTrip(ws, 'x'), 'tls:x', 'the WebSocket dial uses the same name and CA');
  ws.close();
});

t.test('a reload re-reads tls.ca: trusting the right CA afterwards takes effect without a restart', async (t) => {
  const certs = await testCerts();
  const backend = await httpsBackend(t, certs.a);
  const running = await startEdge(t, config(`https://localhost:${backend.port}`, ''));
  t.equal((await get(running.port, '/')).status, 502, 'before: the test CA is not trusted');
  const caFile = join(running.dir, 'upstream-ca.pem');
  writeFileSync(caFile, certs.caPem);
  const { file } = await writeConfigFile(t, config(`https://localhost:${backend.port}`, '{ ca: upstream-ca.pem }'), running.dir);
  const { config: next, problems } = await loadConfig(file);
  t.same(problems, []);
  t.equal((await running.edge.reload(next as NonNullable<typeof next>)).applied, true);
  const reply = await get(running.port, '/');
  t.equal(reply.status, 200, 'after: served through the newly trusted CA (path relative to the config)');
  t.equal(reply.body, 'tls localhost');
});
