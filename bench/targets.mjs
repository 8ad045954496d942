// The proxies a bench run compares: Gatehouse builds (the working tree, or another git ref built
// into a temp dir by --compare) on one or more Node binaries, and nginx. Every target listens on
// its own 127.0.0.1 port for the whole run so the runs can alternate between them.
import { execFileSync, execSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { out, pinned, root, sleep, waitTls } from './lib.mjs';
import { writeNginxConfig } from './nginx.mjs';
import { PEERS, startPeer } from './peers.mjs';

/**
 * `git archive REF` into a temp dir and build it there. node_modules is hard-linked from the
 * working tree when both lockfiles are byte-identical (nothing writes into it during a build),
 * `npm ci` otherwise. The caller removes the dir with cleanup().
 */
export function buildRef(ref) {
  // A tree already built (a `git worktree` of REF with its own npm ci and build): used as it is.
  if (existsSync(join(ref, 'dist', 'cli.js'))) {
    const commit = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ref, encoding: 'utf8' }).trim();
    return { dir: ref, commit, cleanup: () => {} };
  }
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-ref-'));
  const cleanup = () => rmSync(dir, { recursive: true, force: true });
  try {
    const commit = execFileSync('git', ['rev-parse', '--short', `${ref}^{commit}`], { cwd: root, encoding: 'utf8' }).trim();
    execSync(`git archive ${commit} | tar -x -C ${JSON.stringify(dir)}`, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    const sameLock = readFileSync(join(dir, 'package-lock.json'), 'utf8') === readFileSync(join(root, 'package-lock.json'), 'utf8');
    if (sameLock) execFileSync('cp', ['-al', join(root, 'node_modules'), join(dir, 'node_modules')]);
    else execFileSync('npm', ['ci', '--no-audit', '--no-fund', '--ignore-scripts'], { cwd: dir, stdio: ['ignore', 'ignore', 'inherit'], timeout: 300_000 });
    execFileSync(process.execPath, [join(dir, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: dir, stdio: 'inherit', timeout: 300_000 });
    process.stderr.write(`built ${ref} (${commit}) in ${dir}${sameLock ? ' (node_modules linked: same lockfile)' : ' (npm ci)'}\n`);
    return { dir, commit, cleanup };
  } catch (err) {
    cleanup();
    throw err;
  }
}

/** `--routes rules`: a site-level response header and a regex route tried (and missed) before "/". */
const RULES_SITE = `sites:
  - hosts: [localhost, 127.0.0.1]
    headers: { response: { set: { X-Content-Type-Options: nosniff } } }
    routes:
      - { regex: '^/api/(\\d+)/store/?$', upstream: app }
      - { path: /, upstream: app }`;

/** `cache-hit`: the store, and a cached route before "/" (answers without Cache-Control: `valid` gives them 10 minutes, as nginx's proxy_cache_valid). */
const CACHE_SITE = `cache: { memory: 64m }
sites:
  - hosts: [localhost, 127.0.0.1]
    routes:
      - { path: /cached/, upstream: app, cache: { valid: { 200: 10m } } }
      - { path: /, upstream: app }`;
/**
 * Every feature a site may use — header rules, a regex route, files, compression, access,
 * basic auth, a rate limit, error pages — set on routes the load never reaches
 * (`--routes features-elsewhere`: what they cost a request that does not use them), or also on
 * the loaded route "/" (`features-here`: what they cost when used; auth stays on /admin/, the
 * load sends no credentials). `rate` is far above any bench load: every request is admitted.
 */
function featuresSite(here, dir) {
  mkdirSync(join(dir, 'static'), { recursive: true });
  writeFileSync(join(dir, 'static', 'index.html'), 'static\n');
  writeFileSync(join(dir, 'admin.htpasswd'), 'admin:{SHA}0DPiKuNIrrVmD8IUCuw1hQxNqZc=\n');
  const used = here ? ', headers: { request: { set: { X-Bench: "{remote_addr}" } }, response: { set: { X-Frame-Options: DENY } } }, compress: true, access: { methods: [GET, POST], allow: [127.0.0.0/8] }, rateLimit: bench' : '';
  return `rateLimits: { bench: { rate: 1000000/s, burst: 1000000 } }
sites:
  - hosts: [localhost, 127.0.0.1]
    headers: { response: { set: { X-Content-Type-Options: nosniff } } }
    errorPages: { 404: ${JSON.stringify(join(dir, 'static', 'index.html'))} }
    routes:
      - { regex: '^/api/(\\d+)/store/?$', upstream: app, compress: true, headers: { request: { set: { X-Store: "{re.1}" } } } }
      - { path: /static/, files: { root: ${JSON.stringify(join(dir, 'static'))}, stripPrefix: true }, compress: true }
      - { path: /admin/, upstream: app, access: { allow: [10.0.0.0/8] }, auth: { basic: { realm: Admin, users: ${JSON.stringify(join(dir, 'admin.htpasswd'))} } } }
      - { path: /login, upstream: app, rateLimit: bench }
      - { path: /, upstream: app${used} }`;
}

/** Target kinds served by bench/floor.mjs, and the mode each runs it in. */
export const FLOOR_MODES = { floor: 'relay', answer: 'answer', h2compat: 'h2-compat', h2stream: 'h2-stream', h2relay: 'h2-relay', tlsrelay: 'tls-relay' };

/** The version a Node binary reports (labels per-Node targets). */
export function nodeVersion(bin) {
  return spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 10_000 }).stdout.trim();
}

/**
 * Refuses a port something already listens on (another bench, a stale target): the wait for TLS
 * below would find that server and measure it instead of ours.
 */
function assertFree(port) {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err) => reject(err.code === 'EADDRINUSE' ? new Error(`127.0.0.1:${port} is already in use (another bench?): choose free ports with --port`) : err));
    probe.listen(port, '127.0.0.1', () => probe.close(() => resolve()));
  });
}

/**
 * Start one target and wait until it answers TLS. Returns { name, pid, port, h2Port, alpn, stop }.
 * spec: { name, kind: 'gatehouse'|'nginx'|'caddy'|'fastify'|a FLOOR_MODES kind, workers: '1'|'auto', dir?, node?, nodeArgs?, log? }.
 */
export async function startTarget(spec, { port, h2Port, leaf, backends, children }) {
  await assertFree(port);
  if (spec.kind === 'nginx') await assertFree(h2Port);
  let child;
  if (spec.kind === 'gatehouse') {
    // Config and log in separate folders: Gatehouse watches its config file, and a log growing
    // next to it must not be in the picture.
    mkdirSync(join(out, 'gatehouse'), { recursive: true });
    mkdirSync(join(out, 'logs'), { recursive: true });
    const slug = `${spec.name.replace(/[^\w.-]+/g, '_')}-${port}`;
    const cfg = join(out, 'gatehouse', `${slug}.yaml`);
    writeFileSync(cfg, `listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "${leaf.fullchain}", key: "${leaf.key}" }] }
upstreams: { app: { targets: [${backends.map((x) => `"${x}"`).join(', ')}] } }
${spec.cache ? CACHE_SITE : spec.routes === 'rules' ? RULES_SITE : spec.routes?.startsWith('features-') ? featuresSite(spec.routes === 'features-here', join(out, 'gatehouse', slug)) : 'sites: [{ hosts: [localhost, 127.0.0.1], routes: [{ path: /, upstream: app }] }]'}
workers: ${spec.workers === 'auto' ? 'auto' : 1}
log: { level: ${spec.log ?? 'info'} }
`);
    const logFd = openSync(join(out, 'logs', `${slug}.log`), 'w');
    const cli = [...(spec.nodeArgs ?? []), join(spec.dir ?? root, 'dist', 'cli.js'), '--config', cfg];
    const node = spec.node ?? process.execPath;
    const [cmd, args] = spec.workers === 'auto' ? [node, cli] : pinned(0, node, cli);
    child = spawn(cmd, args, { stdio: ['ignore', logFd, logFd] });
  } else if (spec.kind in FLOOR_MODES) {
    // Node's floor (bench/floor.mjs), on the same core and Node as Gatehouse would be.
    const args = [...(spec.nodeArgs ?? []), join(root, 'bench', 'floor.mjs'), FLOOR_MODES[spec.kind], String(port), leaf.fullchain, leaf.key, ...backends];
    const [cmd, pinnedArgs] = pinned(0, spec.node ?? process.execPath, args);
    child = spawn(cmd, pinnedArgs, { stdio: ['ignore', 'ignore', 'inherit'] });
  } else if (PEERS.includes(spec.kind)) {
    child = startPeer(spec, { port, leaf, backends });
  } else {
    const conf = writeNginxConfig({ dir: out, port, h2Port, cert: leaf.fullchain, key: leaf.key, backends, workers: spec.workers === 'auto' ? 'auto' : 1, cache: spec.cache === true });
    const nginxArgs = ['-c', conf, '-p', out, '-g', 'daemon off;'];
    const [cmd, args] = spec.workers === 'auto' ? ['nginx', nginxArgs] : pinned(0, 'nginx', nginxArgs);
    child = spawn(cmd, args, { stdio: 'ignore' });
  }
  children.push(child);
  const alpn = await waitTls(port);
  const h2 = spec.kind === 'nginx' ? (await waitTls(h2Port)) === 'h2' : alpn === 'h2';
  await sleep(300);
  // Something else answering on the port (another bench) while ours died on EADDRINUSE.
  if (child.exitCode !== null) throw new Error(`${spec.name} exited (${child.exitCode}) before serving: port ${port} busy? (--port)`);
  process.stderr.write(`${spec.name} (pid ${child.pid}) on 127.0.0.1:${port}${spec.kind === 'nginx' ? `, h2 on ${h2Port}` : ''}; ALPN offered h2: ${h2 ? 'yes' : 'no'}\n`);
  return {
    ...spec,
    pid: child.pid,
    port,
    h2Port: spec.kind === 'nginx' ? h2Port : port,
    h2,
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([new Promise((r) => child.on('exit', r)), sleep(15_000)]);
      if (child.exitCode === null) child.kill('SIGKILL');
    },
  };
}
