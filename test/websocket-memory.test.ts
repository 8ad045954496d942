// What an idle tunnel keeps alive. Thousands of idle WebSockets are the normal case for an edge,
// so a tunnel must not retain its handshake objects (ClientRequest, its Agent, the upstream's
// IncomingMessage, header copies): counted in a real V8 heap snapshot of a running Gatehouse.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import type WebSocket from 'ws';
import { tempDir, writeConfigFile } from './helpers/edge.js';
import { deadPort } from './helpers/net.js';
import { spawnGatehouse } from './helpers/process.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startWsBackend } from './helpers/upstream.js';

interface Snapshot { snapshot: { meta: { node_fields: string[]; node_types: [string[]] } }; nodes: number[]; strings: string[] }

/** Live objects per constructor name (a snapshot is taken after a full GC). */
function count(snap: Snapshot, names: readonly string[]): Map<string, number> {
  const fields = snap.snapshot.meta.node_fields;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const objectType = snap.snapshot.meta.node_types[0].indexOf('object');
  const counts = new Map(names.map((n) => [n, 0]));
  for (let i = 0; i < snap.nodes.length; i += fields.length) {
    if (snap.nodes[i + typeAt] !== objectType) continue;
    const name = snap.strings[snap.nodes[i + nameAt] as number] as string;
    const seen = counts.get(name);
    if (seen !== undefined) counts.set(name, seen + 1);
  }
  return counts;
}

t.test('open tunnels keep no handshake request objects alive', async (t) => {
  const backend = await startWsBackend(t);
  const dir = tempDir(t);
  const port = await deadPort();
  const { file } = await writeConfigFile(t, `
listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`, dir);
  const gh = await spawnGatehouse(t, file, 1, ['--heapsnapshot-signal=SIGUSR2', `--diagnostic-dir=${dir}`]);
  const N = 40;
  const clients: WebSocket[] = [];
  for (let i = 0; i < N; i++) clients.push(await openWs(port, '/', { origin: 'https://localhost' }));
  t.teardown(() => { for (const ws of clients) ws.terminate(); });
  t.equal(await roundTrip(clients[0] as WebSocket, 'ping'), 'ws:ping', 'tunnels work');

  gh.child.kill('SIGUSR2');
  let snap: Snapshot | undefined;
  let lastSize = -1;
  // The snapshot is written in pieces: it is parsed only once its size held still for one poll, and
  // the wait is long because writing it takes the edge's one thread many seconds on a loaded machine.
  await gh.until(() => {
    const name = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot'));
    if (name === undefined) return false;
    const path = join(dir, name);
    const size = statSync(path).size;
    if (size !== lastSize) {
      lastSize = size;
      return false;
    }
    try {
      snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
      return true;
    } catch {
      return false; // still being written
    }
  }, 'heap snapshot', 60_000);
  const live = count(snap as Snapshot, ['ClientRequest', 'Agent', 'IncomingMessage', 'Socket']);
  t.ok((live.get('Socket') as number) >= N, `the ${N} upstream sockets are in the snapshot (${live.get('Socket')} Sockets)`);
  // Before tunnels were tidied, each one held a ClientRequest, an Agent and two IncomingMessages.
  for (const name of ['ClientRequest', 'Agent', 'IncomingMessage']) t.ok((live.get(name) as number) < N / 4, `${name}: ${live.get(name)} live with ${N} tunnels open`);
});
