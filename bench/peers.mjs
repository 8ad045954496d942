// The proxies a user would pick instead of Gatehouse, as optional bench targets (issue 26's peer
// row): Caddy (`caddy-1`, when `caddy` is on PATH: `apt-get install caddy`) and fastify with
// @fastify/http-proxy (`fastify-1`, when both resolve from the repository:
// `npm install --no-save fastify @fastify/http-proxy`). Each gets the bench's configuration in its
// own terms: TLS 1.3 only with the same certificate, HSTS on every answer, the two backends (Caddy
// balances by client IP as Gatehouse does; @fastify/http-proxy takes one upstream), and an access
// line per request when Gatehouse logs one (`--log info`).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { have, out, pinned, root } from './lib.mjs';

export const PEERS = ['caddy', 'fastify'];

/** Why a peer cannot run here (a sentence naming how to install it), or undefined when it can. */
export function missingPeer(kind) {
  if (kind === 'caddy') return have('caddy') ? undefined : 'caddy not installed: skipped (apt-get install caddy)';
  const resolves = spawnSync(process.execPath, ['-e', "require.resolve('fastify'); require.resolve('@fastify/http-proxy')"], { cwd: root }).status === 0;
  return resolves ? undefined : 'fastify not installed: skipped (npm install --no-save fastify @fastify/http-proxy)';
}

/** Start a peer pinned like Gatehouse (one core for `-1`); resolves with its child process. */
export function startPeer(spec, { port, leaf, backends }) {
  const dir = join(out, spec.kind);
  mkdirSync(join(dir, 'logs'), { recursive: true });
  const log = spec.log === 'info' ? join(dir, 'logs', `access-${port}.log`) : undefined;
  const one = spec.workers !== 'auto';
  if (spec.kind === 'caddy') {
    const file = join(dir, `Caddyfile-${port}`);
    writeFileSync(file, `{
  admin off
  auto_https off
  storage file_system ${join(dir, 'storage')}
}
https://localhost:${port}, https://127.0.0.1:${port} {
  bind 127.0.0.1
  tls ${leaf.fullchain} ${leaf.key} {
    protocols tls1.3
  }
  header Strict-Transport-Security "max-age=31536000"
  reverse_proxy ${backends.join(' ')} {
    lb_policy ip_hash
  }
${log === undefined ? '' : `  log {\n    output file ${log}\n  }`}
}
`);
    const env = { ...process.env, XDG_DATA_HOME: join(dir, 'data'), XDG_CONFIG_HOME: join(dir, 'config'), ...(one ? { GOMAXPROCS: '1' } : {}) };
    const args = ['run', '--config', file, '--adapter', 'caddyfile'];
    const [cmd, pinnedArgs] = one ? pinned(0, 'caddy', args) : ['caddy', args];
    return spawn(cmd, pinnedArgs, { stdio: ['ignore', 'ignore', openSync(join(dir, 'logs', `caddy-${port}.err`), 'w')], env });
  }
  const args = [...(spec.nodeArgs ?? []), join(root, 'bench', 'peer-fastify.mjs'), String(port), leaf.fullchain, leaf.key, backends[0], log ?? ''];
  const [cmd, pinnedArgs] = pinned(0, spec.node ?? process.execPath, args);
  return spawn(cmd, pinnedArgs, { stdio: ['ignore', 'ignore', 'inherit'], cwd: root });
}
