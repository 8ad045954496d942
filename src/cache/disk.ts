import { createHash, randomBytes } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Entry } from './entry.js';
import { variantOf } from './key.js';

const ENTRY = '.entry';

/**
 * The on-disk tier (`cache.path`, `maxSize`): it outlives a restart, and with `workers` every
 * worker reads and writes the same directory (their memory tiers stay their own). Layout:
 * `<sha256(key)>/meta.json` holds the key and the names it varies on; `<sha256(variant)>.entry`
 * holds one answer (a 4-byte length, its JSON header, the body). Files are written whole under a
 * temporary name and renamed (POSIX rename is atomic), so a reader never sees half an entry,
 * whichever process wrote it. Size is kept by a sweep (oldest written first out) after every
 * eighth of maxSize written, not by a shared index the workers would have to agree on.
 */
export class DiskStore {
  readonly #dir: string;
  readonly #maxSize: number;
  readonly #log: Logger;
  readonly #ready: Promise<unknown>;
  #written = 0;
  #sweeping = false;

  constructor(dir: string, maxSize: number, log: Logger) {
    this.#dir = dir;
    this.#maxSize = maxSize;
    this.#log = log;
    this.#ready = mkdir(dir, { recursive: true }).then(() => this.sweep(), (err: unknown) => log.warn({ event: 'cache-disk', err }, 'cache.path cannot be created: the disk tier is off'));
  }

  get entryLimit(): number {
    return Math.floor(this.#maxSize / 8);
  }

  async get(key: string, headers: IncomingHttpHeaders): Promise<Entry | undefined> {
    await this.#ready;
    const folder = join(this.#dir, digest(key));
    const meta = await readFile(join(folder, 'meta.json'), 'utf8').catch(() => undefined);
    if (meta === undefined) return undefined;
    const { vary } = JSON.parse(meta) as { vary: string[] };
    const variant = variantOf(vary, headers);
    const bytes = await readFile(join(folder, `${digest(variant)}${ENTRY}`)).catch(() => undefined);
    if (bytes === undefined || bytes.length < 4) return undefined;
    const length = bytes.readUInt32BE(0);
    const head = JSON.parse(bytes.subarray(4, 4 + length).toString('utf8')) as Omit<Entry, 'body'>;
    // A digest collision, or a file from another key: never served.
    if (head.key !== key || head.variant !== variant) return undefined;
    return { ...head, body: bytes.subarray(4 + length) };
  }

  /** Written in the background; a failure is logged and the entry lives in memory only. */
  put(entry: Entry): void {
    if (entry.size > this.entryLimit) return;
    this.#write(entry).catch((err: unknown) => this.#log.warn({ event: 'cache-disk', err }, 'cache entry not written to disk'));
  }

  async #write(entry: Entry): Promise<void> {
    await this.#ready;
    const folder = join(this.#dir, digest(entry.key));
    await mkdir(folder, { recursive: true });
    const { body, ...head } = entry;
    const json = Buffer.from(JSON.stringify(head));
    const length = Buffer.alloc(4);
    length.writeUInt32BE(json.length);
    await atomicWrite(join(folder, 'meta.json'), JSON.stringify({ key: entry.key, vary: entry.vary }));
    await atomicWrite(join(folder, `${digest(entry.variant)}${ENTRY}`), Buffer.concat([length, json, body]));
    this.#written += entry.size;
    if (this.#written > this.#maxSize / 8) void this.sweep();
  }

  /** Every variant of `key`. */
  async delete(key: string): Promise<number> {
    await this.#ready;
    const folder = join(this.#dir, digest(key));
    const files = await readdir(folder).catch(() => [] as string[]);
    await rm(folder, { recursive: true, force: true });
    return files.filter((f) => f.endsWith(ENTRY)).length;
  }

  async deletePrefix(prefix: string): Promise<number> {
    await this.#ready;
    let n = 0;
    for (const folder of await readdir(this.#dir).catch(() => [] as string[])) {
      const meta = await readFile(join(this.#dir, folder, 'meta.json'), 'utf8').catch(() => undefined);
      if (meta === undefined) continue;
      const { key } = JSON.parse(meta) as { key: string };
      if (key.startsWith(prefix)) n += await this.delete(key);
    }
    return n;
  }

  /** Holds the tier under maxSize: oldest written first out, down to 90% so a sweep is not due at once again. */
  async sweep(): Promise<void> {
    if (this.#sweeping) return;
    this.#sweeping = true;
    this.#written = 0;
    try {
      const files: { path: string; size: number; mtime: number }[] = [];
      let total = 0;
      for (const folder of await readdir(this.#dir)) {
        for (const name of await readdir(join(this.#dir, folder)).catch(() => [] as string[])) {
          if (!name.endsWith(ENTRY)) continue;
          const path = join(this.#dir, folder, name);
          const s = await stat(path).catch(() => undefined);
          if (s === undefined) continue;
          files.push({ path, size: s.size, mtime: s.mtimeMs });
          total += s.size;
        }
      }
      if (total <= this.#maxSize) return;
      files.sort((a, b) => a.mtime - b.mtime);
      for (const f of files) {
        if (total <= this.#maxSize * 0.9) break;
        await unlink(f.path).catch(() => undefined);
        total -= f.size;
      }
    } catch (err) {
      this.#log.warn({ event: 'cache-disk', err }, 'cache disk sweep failed');
    } finally {
      this.#sweeping = false;
    }
  }
}

function digest(text: string): string {
  return createHash('sha256').update(text).digest('hex').slice(0, 40);
}

async function atomicWrite(path: string, data: string | Buffer): Promise<void> {
  const tmp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}
