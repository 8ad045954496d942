import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { mkdir, open, readFile, rename, stat, unlink, utimes } from 'node:fs/promises';
import { join } from 'node:path';
import type { CertificatePaths } from '../../config/types.js';
import { parseState, type AcmeState } from './state.js';

/** A lock not refreshed for this long belongs to a dead instance and may be broken. */
const LOCK_STALE_MS = 10 * 60_000;

/**
 * The ACME folder, shared by workers and by instances on one volume:
 * ```
 * account.key  account.json           the CA account (key 0600), reused across restarts
 * certs/HOST/fullchain.pem privkey.pem the issued pair, as certbot's live/ names it (key 0600)
 * challenges/http-01/TOKEN            key authorizations, so any instance answers the CA
 * challenges/tls-alpn-01/HOST.pem     the acme-tls/1 certificate and key (RFC 8737 §3)
 * state.json                          per host: next attempt, failures, last success
 * lock                                one order at a time across instances
 * ```
 * Every file is written whole under a temporary name and renamed into place (rename(2) is
 * atomic), so a reader — the certificate watcher, another instance — never sees half a file.
 */
export class AcmeStorage {
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  certPaths(host: string): CertificatePaths {
    return { cert: join(this.root, 'certs', host, 'fullchain.pem'), key: join(this.root, 'certs', host, 'privkey.pem') };
  }

  get accountKeyPath(): string {
    return join(this.root, 'account.key');
  }

  get accountPath(): string {
    return join(this.root, 'account.json');
  }

  get statePath(): string {
    return join(this.root, 'state.json');
  }

  httpTokenPath(token: string): string {
    return join(this.root, 'challenges', 'http-01', token);
  }

  alpnPath(host: string): string {
    return join(this.root, 'challenges', 'tls-alpn-01', `${host}.pem`);
  }

  /** Make the folders (the watcher watches certs/HOST before anything is issued). */
  async prepare(hosts: readonly string[]): Promise<void> {
    await mkdir(this.root, { recursive: true, mode: 0o700 });
    await Promise.all([
      ...hosts.map((h) => mkdir(join(this.root, 'certs', h), { recursive: true, mode: 0o700 })),
      mkdir(join(this.root, 'challenges', 'http-01'), { recursive: true }),
      mkdir(join(this.root, 'challenges', 'tls-alpn-01'), { recursive: true, mode: 0o700 }),
    ]);
  }

  async read(path: string): Promise<Buffer | undefined> {
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async remove(path: string): Promise<void> {
    await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err; });
  }

  async readState(): Promise<AcmeState> {
    const text = await this.read(this.statePath);
    return text === undefined ? {} : parseState(text.toString('utf8'));
  }

  async writeState(state: AcmeState): Promise<void> {
    await writeAtomic(this.statePath, `${JSON.stringify(state, null, 2)}\n`, 0o644);
  }

  /** Write a pair: the key first, then the chain, each atomically; the watcher waits for both to settle and checks they match. */
  async writePair(host: string, fullchain: string, key: string): Promise<void> {
    const paths = this.certPaths(host);
    await mkdir(join(this.root, 'certs', host), { recursive: true, mode: 0o700 });
    await writeAtomic(paths.key, key, 0o600);
    await writeAtomic(paths.cert, fullchain, 0o644);
  }

  async write(path: string, data: string | Buffer, mode = 0o644): Promise<void> {
    await writeAtomic(path, data, mode);
  }

  /**
   * Take the lock (O_EXCL create), or return undefined when another live instance holds it.
   * A lock whose heartbeat stopped for `staleMs` is moved aside first. The release function
   * stops the heartbeat and removes the lock only if it is still ours.
   */
  async lock(staleMs = LOCK_STALE_MS): Promise<(() => Promise<void>) | undefined> {
    const path = join(this.root, 'lock');
    const owner = `${hostname()} ${process.pid} ${randomBytes(6).toString('hex')}`;
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const handle = await open(path, 'wx', 0o644);
        await handle.writeFile(`${owner}\n`);
        await handle.close();
        // Refresh mtime while ordering, so a slow CA never makes a live lock look stale.
        const beat = setInterval(() => { void utimes(path, new Date(), new Date()).catch(() => undefined); }, Math.max(1000, Math.floor(staleMs / 3)));
        beat.unref();
        return async () => {
          clearInterval(beat);
          const text = await this.read(path).catch(() => undefined);
          if (text?.toString('utf8').trim() === owner) await this.remove(path);
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const age = await stat(path).then((s) => Date.now() - s.mtimeMs, () => 0);
      if (age < staleMs) return undefined;
      // Rename rather than unlink: of two instances breaking the same stale lock, one wins.
      const aside = `${path}.stale-${randomBytes(4).toString('hex')}`;
      if (!(await rename(path, aside).then(() => true, () => false))) return undefined;
      await this.remove(aside);
    }
    return undefined;
  }
}

async function writeAtomic(path: string, data: string | Buffer, mode: number): Promise<void> {
  const temp = `${path}.tmp-${randomBytes(6).toString('hex')}`;
  const handle = await open(temp, 'wx', mode);
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temp, path);
  } catch (err) {
    await unlink(temp).catch(() => undefined);
    throw err;
  }
}
