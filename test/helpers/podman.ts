import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type Ran } from './process.js';

/*
 * Podman for the image test, on a machine without a reachable container registry: the base is
 * a debootstrapped Debian imported as an image, and Node (with npm) comes from the npm registry.
 * Debian's runc, not crun (crun refuses hybrid cgroup hierarchies), and explicit ulimits (the
 * defaults podman asks for exceed the hard limits of some machines).
 */

export const DEBIAN_BASE = 'localhost/debian-min:bookworm';
const RUNTIME = ['--runtime', 'runc'];
export const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

/** `podman --runtime runc ARGS`; rejects with the output unless it exits 0. */
export async function podman(args: readonly string[], ms = 60_000): Promise<string> {
  const r = await run('podman', [...RUNTIME, ...args], ms);
  if (r.code !== 0) throw new Error(`podman ${args.join(' ')} exited ${String(r.code)}:\n${r.stdout}${r.stderr}`.slice(-6000));
  return r.stdout;
}

/** `podman ARGS`, whatever its exit code. */
export function podmanStatus(args: readonly string[], ms = 60_000): Promise<Ran> {
  return run('podman', [...RUNTIME, ...args], ms);
}

async function imageExists(name: string): Promise<boolean> {
  return (await podmanStatus(['image', 'exists', name])).code === 0;
}

/**
 * A minimal Debian bookworm image, made once per machine and kept: debootstrap (~1-2 min,
 * ~206 MB) then `podman import`. Returns its name.
 */
export async function debianBase(): Promise<string> {
  if (await imageExists(DEBIAN_BASE)) return DEBIAN_BASE;
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-debootstrap-'));
  try {
    const root = join(dir, 'root');
    const boot = await run('debootstrap', ['--variant=minbase', 'bookworm', root], 600_000);
    if (boot.code !== 0) throw new Error(`debootstrap exited ${String(boot.code)}:\n${boot.stdout}${boot.stderr}`.slice(-4000));
    const imported = await run('sh', ['-c', 'tar -C "$1" -c . | podman import - "$2"', 'sh', root, DEBIAN_BASE], 300_000);
    if (imported.code !== 0) throw new Error(`podman import exited ${String(imported.code)}:\n${imported.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return DEBIAN_BASE;
}

/** An npm config value as this machine's npm sees it, or undefined when unset. */
function npmConfig(key: string): string | undefined {
  const value = spawnSync('npm', ['config', 'get', key], { encoding: 'utf8' }).stdout.trim();
  return value === '' || value === 'null' || value === 'undefined' ? undefined : value;
}

/** The newest release of a Node line on the npm registry's `node` package, e.g. "24.21.0". */
async function newestNode(line: number): Promise<string> {
  const r = await run('npm', ['view', `node@${line}`, 'version', '--json'], 60_000);
  if (r.code !== 0) throw new Error(`npm view node@${line}: ${r.stderr}`);
  const versions = [JSON.parse(r.stdout) as string | string[]].flat();
  const newest = versions.sort((a, b) => a.localeCompare(b, 'en', { numeric: true })).at(-1);
  if (newest === undefined) throw new Error(`no node@${line} on the registry`);
  return newest;
}

/**
 * What the Dockerfile's BASE must offer (node and npm on PATH on Debian bookworm), made from
 * the Debian base plus the `node` and `npm` packages of the npm registry; cached per Node
 * version. npm inside the build uses this machine's registry and CA file (a TLS-inspecting
 * egress proxy re-signs the registry's certificate), so the base carries them as NPM_CONFIG_*.
 */
export async function nodeBase(line: number): Promise<{ image: string; version: string }> {
  const version = await newestNode(line);
  const image = `localhost/gatehouse-node-base:${version}`;
  if (await imageExists(image)) return { image, version };
  const debian = await debianBase();
  const dir = mkdtempSync(join(tmpdir(), 'gatehouse-node-base-'));
  // The build context holds only what the image gets; the npm install lands beside it.
  const ctx = join(dir, 'context');
  const dl = join(dir, 'download');
  try {
    const got = await run('npm', ['install', '--prefix', dl, '--no-audit', '--no-fund', '--no-save', `node@${version}`, 'npm@11'], 300_000);
    if (got.code !== 0) throw new Error(`npm install node@${version}: ${got.stderr}`);
    mkdirSync(ctx);
    cpSync(join(dl, 'node_modules', 'node', 'bin', 'node'), join(ctx, 'node'));
    cpSync(join(dl, 'node_modules', 'npm'), join(ctx, 'npm'), { recursive: true });
    const env = [['NPM_CONFIG_REGISTRY', npmConfig('registry')], ['NPM_CONFIG_HTTPS_PROXY', npmConfig('https-proxy')], ['NPM_CONFIG_PROXY', npmConfig('proxy')]]
      .filter((e): e is [string, string] => e[1] !== undefined);
    const cafile = npmConfig('cafile');
    const lines = [
      `FROM ${debian}`,
      'COPY node /usr/local/bin/node',
      'COPY npm /usr/local/lib/node_modules/npm',
      'RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx',
    ];
    if (cafile !== undefined && existsSync(cafile)) {
      cpSync(cafile, join(ctx, 'npm-ca.pem'));
      lines.push('COPY npm-ca.pem /usr/local/etc/npm-ca.pem');
      env.push(['NPM_CONFIG_CAFILE', '/usr/local/etc/npm-ca.pem']);
    }
    if (env.length > 0) lines.push(`ENV ${env.map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(' ')}`);
    writeFileSync(join(ctx, 'Containerfile'), `${lines.join('\n')}\n`);
    await podman(['build', '--network', 'host', ...ULIMITS, '-f', join(ctx, 'Containerfile'), '-t', image, ctx], 300_000);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return { image, version };
}
