import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import apacheMd5 from 'apache-md5';
import bcrypt from 'bcryptjs';
import { hashFormat } from '../../config/guard.js';
import type { Logger } from '../../log.js';

/** How often the file's mtime and size are looked at: a changed file is served within this. */
const RECHECK_MS = 1000;
/** Verified credentials remembered (per file): browsers resend Basic on every request, bcrypt is ~50 ms each. */
const VERIFIED_MAX = 1024;
/** A bcrypt hash of nothing anyone knows, for a file without entries. */
const DUMMY_BCRYPT = '$2b$10$CHEaZ1VBAq81gpKTFIBaFOk.UP51u75P02ayCMq0FBFoLaERaKzNO';

/**
 * An htpasswd file as `htpasswd` writes it (bcrypt, apr1, {SHA}), re-read when it changes
 * (checked at most once a second, on use), so adding a user needs no reload. A file that turns
 * unreadable or malformed keeps the last good users and is logged.
 */
export class HtpasswdFile {
  readonly path: string;
  readonly #log: Logger;
  #users = new Map<string, string>();
  /** An unknown user is checked against a real entry's hash (same format and cost): its answer takes as long as a wrong password's. */
  #decoy = DUMMY_BCRYPT;
  #checkedAt = 0;
  #version = '';
  #refreshing: Promise<void> | undefined;
  /** HMAC(secret, user, password, hash) of recent successes; the hash in the key makes a changed entry miss. */
  readonly #verified = new Set<string>();
  readonly #secret = randomBytes(32);

  constructor(path: string, log: Logger) {
    this.path = path;
    this.#log = log;
  }

  /** true when `user` and `password` match the file; never faster for an unknown user than for a wrong password. */
  async verify(user: string, password: string): Promise<boolean> {
    await this.#fresh();
    const hash = this.#users.get(user);
    const key = createHmac('sha256', this.#secret).update(user).update('\0').update(password).update('\0').update(hash ?? '').digest('base64');
    if (hash !== undefined && this.#verified.has(key)) return true;
    const ok = await verifyHash(hash ?? this.#decoy, password) && hash !== undefined;
    if (ok) {
      if (this.#verified.size >= VERIFIED_MAX) this.#verified.clear();
      this.#verified.add(key);
    }
    return ok;
  }

  #fresh(): Promise<void> {
    if (Date.now() - this.#checkedAt < RECHECK_MS) return Promise.resolve();
    this.#refreshing ??= this.#reload().finally(() => {
      this.#checkedAt = Date.now();
      this.#refreshing = undefined;
    });
    return this.#refreshing;
  }

  async #reload(): Promise<void> {
    try {
      const info = await stat(this.path);
      const version = `${info.mtimeMs}:${info.size}:${info.ino}`;
      if (version === this.#version) return;
      const users = parseHtpasswd(await readFile(this.path, 'utf8'));
      this.#users = users;
      this.#decoy = users.values().next().value ?? DUMMY_BCRYPT;
      this.#version = version;
      this.#verified.clear();
    } catch (err) {
      this.#log.error({ event: 'htpasswd', file: this.path, err: (err as Error).message }, 'htpasswd file unreadable: the users read before stay in force');
    }
  }
}

/** user → hash; lines htpasswd would not write are skipped (config load reported them). */
export function parseHtpasswd(text: string): Map<string, string> {
  const users = new Map<string, string>();
  for (const line of text.split('\n')) {
    const entry = line.trim();
    const colon = entry.indexOf(':');
    if (entry === '' || entry.startsWith('#') || colon <= 0) continue;
    const hash = entry.slice(colon + 1);
    if (hashFormat(hash) !== undefined) users.set(entry.slice(0, colon), hash);
  }
  return users;
}

/**
 * One password against one hash. bcrypt runs in bcryptjs's async mode, which works in slices
 * between event-loop turns, so other clients are served while it hashes; the comparisons of
 * computed and stored hashes are constant-time.
 */
export async function verifyHash(hash: string, password: string): Promise<boolean> {
  switch (hashFormat(hash)) {
    case 'bcrypt':
      // $2y$ (PHP's and htpasswd's name) is the same algorithm as $2b$.
      return bcrypt.compare(password, hash.replace(/^\$2y\$/, '$2b$'));
    case 'apr1':
      return same(apacheMd5(password, hash), hash);
    case 'sha1':
      return same(`{SHA}${createHash('sha1').update(password, 'utf8').digest('base64')}`, hash);
    default:
      return false;
  }
}

function same(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
