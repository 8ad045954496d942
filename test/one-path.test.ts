// One way to reach an upstream (issue 10): no second client hides in src/, and a WebSocket
// handshake rides the same keep-alive pool as plain requests.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { basicConfig, startEdge } from './helpers/edge.js';
import { get } from './helpers/net.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startWsBackend } from './helpers/upstream.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

// Exempt, because neither reaches an upstream: src/tools/ (`check --live` probes a deployed edge
// from outside, as a browser would: its own TLS versions, Origins, a plain-HTTP redirect) and
// src/tls/acme/ (the ACME CA's directory and renewalInfo, over https with the `tls.acme.ca` trust),
// and src/import/nginx/compare/ (`import nginx --compare` is a client of nginx and of a Gatehouse
// on loopback, asking both the same requests, as the tests do).
t.test('src/ imports no HTTP or WebSocket client: not node:http(s) request/get, not ws', async (t) => {
  const offenders = sources('src').filter((file) => !file.startsWith(join('src', 'tools')) && !file.startsWith(join('src', 'tls', 'acme')) && !file.startsWith(join('src', 'import', 'nginx', 'compare'))).filter((file) => {
    const text = readFileSync(file, 'utf8');
    return /import\s*\{[^}]*\b(request|get)\b[^}]*\}\s*from\s*'node:https?'/.test(text) || /from\s*'ws'/.test(text);
  });
  t.strictSame(offenders, []);
});

t.test('a WebSocket handshake goes over the pooled connection a request left idle', async (t) => {
  const backend = await startWsBackend(t, 'pool');
  const { port } = await startEdge(t, basicConfig([backend.address]));
  t.equal((await get(port, '/')).body, 'http pool');
  const ws = await openWs(port, '/', { origin: 'https://localhost' });
  t.equal(await roundTrip(ws, 'x'), 'pool:x');
  t.equal(backend.connections, 1, 'one upstream connection carried the request and then the tunnel');
  ws.terminate();
});
