import { once } from 'node:events';
import { connect as tlsConnect } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { deadPort, fetchText, get } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { writeConfigFile } from './helpers/edge.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';


t.test('workers: 2 — sticky choice agrees across workers, sessions resume on any worker, SIGTERM drains all', async (t) => {
  const certs = await testCerts();
  const b1 = await startBackend(t, (_req, res) => res.end('b1'));
  const b2 = await startBackend(t, (_req, res) => res.end('b2'));
  const port = await deadPort();
  const admin = await deadPort();
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:${port}", admin: "127.0.0.1:${admin}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${b1.address}", "${b2.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
workers: 2
`);
  const gh = await spawnGatehouse(t, file, 2);
  const child = gh.child;

  const servedBy = new Map<string, Set<string>>();
  for (let round = 0; round < 3; round++) {
    for (let i = 10; i < 30; i++) {
      const ip = `127.0.0.${i}`;
      const reply = await get(port, '/', { localAddress: ip });
      servedBy.set(ip, (servedBy.get(ip) ?? new Set()).add(reply.body));
    }
  }
  for (const [ip, bodies] of servedBy) t.equal(bodies.size, 1, `${ip} always lands on the same backend`);
  const pids = new Set([...gh.output().matchAll(/"pid":(\d+),[^\n]*"msg":"request"/g)].map((m) => m[1]));
  t.equal(pids.size, 2, 'both workers served requests');

  let resumed = 0;
  let session: Buffer | undefined;
  for (let i = 0; i < 12; i++) {
    const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem, ...(session ? { session } : {}) });
    socket.on('session', (s: Buffer) => { session ??= s; });
    await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
    if (socket.isSessionReused()) resumed++;
    socket.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    socket.resume();
    await within(5_000, once(socket, 'close'), 'socket to close');
  }
  t.equal(resumed, 11, 'every reconnection resumed its TLS session, whichever worker took it');

  const metrics = (await fetchText(`http://127.0.0.1:${admin}/metrics`)).body;
  t.match(metrics, /gatehouse_requests_total\{route="localhost\/",status="200",protocol="http\/1.1"\} 72/, "admin aggregates both workers (60 + 12 requests)");

  // A crashed worker is replaced and logged; service continues.
  const victim = Number([...pids][0]);
  process.kill(victim, 'SIGKILL');
  await gh.until(() => (gh.output().match(/gatehouse is serving/g) ?? []).length >= 3, 'a replacement worker');
  t.match(gh.output(), new RegExp(`"worker":${victim},[^\n]*"msg":"worker died; starting a replacement"`));
  t.equal((await get(port, '/')).status, 200);

  child.kill('SIGTERM');
  const [code] = await within(10_000, once(child, 'exit'), 'child to exit') as [number | null];
  t.equal(code, 0);
});
