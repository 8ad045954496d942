import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync } from 'node:fs';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import t from 'tap';
import { testCerts } from './helpers/certs.js';
import { CLI } from './helpers/process.js';
import { writeConfigFile } from './helpers/edge.js';
import { startBackend } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/** Descriptors the child may hold: enough to start and serve, few enough to run out in a bounded loop. */
const NOFILE = 64;
const MAX_FLOOD = 200;

/** One keep-alive request on an open TLS socket; resolves with the response body once it arrived. */
async function ask(socket: TLSSocket, path = '/'): Promise<string> {
  socket.write(`GET ${path} HTTP/1.1\r\nHost: localhost\r\n\r\n`);
  let text = '';
  for (const start = Date.now(); Date.now() - start < 5000;) {
    const [chunk] = (await within(5_000, once(socket, 'data'), 'data on socket')) as [Buffer];
    text += chunk.toString('latin1');
    const m = /content-length: (\d+)\r\n/i.exec(text);
    const end = text.indexOf('\r\n\r\n');
    if (m !== null && end !== -1 && text.length >= end + 4 + Number(m[1])) return `${text.slice(9, 12)} ${text.slice(end + 4)}`;
  }
  throw new Error(`no complete response: ${text}`);
}

async function openTls(port: number): Promise<TLSSocket> {
  const certs = await testCerts();
  const socket = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: certs.caPem });
  socket.on('error', () => undefined);
  await within(5_000, once(socket, 'secureConnect'), 'the TLS handshake of socket');
  return socket;
}

t.test('out of file descriptors (EMFILE): the process survives, serves what it holds, and accepts again once descriptors free up', async (t) => {
  const backend = await startBackend(t, (req, res) => {
    if (req.url === '/slow') setTimeout(() => res.end('served'), 500);
    else res.end('served');
  });
  backend.server.keepAliveTimeout = 120_000; // the pooled upstream connection must outlive the test
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
timeouts: { handshake: 60s }
`);
  // The limit is lowered once the process serves (prlimit on its PID), not before it starts: loading
  // the modules through the coverage hooks reads many files at once, and a start-time limit of 64 made
  // that loading itself fail with EMFILE now and then (CI, Node 20), before any connection was made.
  const child = spawn(process.execPath, [CLI, '--config', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let out = '';
  child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { out += d.toString(); });
  const waitFor = async (pred: () => boolean, what: string, ms = 10_000): Promise<void> => {
    for (let i = 0; i < ms / 50 && !pred(); i++) {
      if (child.exitCode !== null) throw new Error(`gatehouse exited while waiting for ${what}:\n${out}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    if (!pred()) throw new Error(`timed out waiting for ${what}:\n${out}`);
  };
  await waitFor(() => out.includes('gatehouse is serving'), 'start', 45_000);
  execFileSync('prlimit', ['--pid', String(child.pid), `--nofile=${NOFILE}:${NOFILE}`]);
  if (existsSync(`/proc/${child.pid}/fd`)) {
    const held = readdirSync(`/proc/${child.pid}/fd`).length;
    t.ok(held < NOFILE - 8, `the serving process holds ${held} descriptors, room for the test's connections under ${NOFILE}`);
  }
  const port = Number(/"https":(\d+)/.exec(out)?.[1]);

  const kept = await openTls(port);
  const second = await openTls(port);
  t.equal(await ask(kept), '200 served', 'a keep-alive connection is served before the flood');

  const flood: Socket[] = [];
  t.teardown(() => flood.forEach((s) => s.destroy()));
  let turnedAway = 0;
  for (let i = 0; i < MAX_FLOOD && turnedAway === 0; i++) {
    const socket = netConnect({ host: '127.0.0.1', port });
    socket.on('error', () => undefined);
    socket.on('close', () => { turnedAway++; });
    flood.push(socket);
    await within(5_000, once(socket, 'connect'), 'socket to connect');
    await new Promise((r) => setTimeout(r, 10));
  }
  await waitFor(() => turnedAway > 0, 'a connection turned away');
  t.ok(turnedAway > 0, `connections past the descriptor limit are closed (after ${flood.length} opened)`);
  // libuv meets EMFILE with its reserve-descriptor trick: it accepts and closes what is pending
  // and tells Node nothing, so the proof that the limit was reached is the descriptor count.
  if (existsSync(`/proc/${child.pid}/fd`)) t.ok(readdirSync(`/proc/${child.pid}/fd`).length >= NOFILE - 1, 'the process holds (nearly) all its descriptors');
  t.equal(child.exitCode, null, 'the process is still running');
  t.equal(await ask(kept), '200 served', 'the connection it holds is still served (its pooled upstream connection reused)');
  // The pooled upstream connection is busy with /slow: the second request needs a new one, and there is no descriptor for it.
  const [slow, starved] = await Promise.all([ask(kept, '/slow'), ask(second)]);
  t.equal(slow, '200 served');
  t.match(starved, /^502 /, 'a request that needs a new upstream connection gets a 502, not a crash');
  t.equal(child.exitCode, null, 'still running');

  flood.forEach((s) => s.destroy());
  let fresh: TLSSocket | undefined;
  for (let i = 0; i < 50 && fresh === undefined; i++) {
    fresh = await openTls(port).catch(() => undefined);
    if (fresh === undefined) await new Promise((r) => setTimeout(r, 100));
  }
  if (fresh === undefined) throw new Error(`no new connection accepted after the flood closed:\n${out}`);
  t.equal(await ask(fresh), '200 served', 'a new connection is accepted and served once descriptors are free');
  fresh.destroy();
  kept.destroy();
  second.destroy();
  t.equal(child.exitCode, null);
});
