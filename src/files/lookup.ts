import { closeSync, fstatSync, openSync, realpathSync, type Stats } from 'node:fs';
import { join, relative, sep } from 'node:path';
import type { FilesConfig } from '../config/files.js';
import { SUFFIX, negotiateAll, type Coding } from '../compress/negotiate.js';
import { safeRelative, within } from './safe-path.js';

/** An open file ready to send: the descriptor is the caller's to close (send.ts does, on every path). */
export interface FoundFile {
  readonly kind: 'file';
  readonly fd: number;
  readonly stat: Stats;
  /** The name the media type comes from (the file itself, not its .br sibling). */
  readonly name: string;
  /** Set when a precompressed sibling is what is open. */
  readonly coding: Coding | undefined;
}

export type Lookup =
  | FoundFile
  /** A directory asked for without its "/": 301 to it (README "Serving files"). */
  | { readonly kind: 'directory' }
  /** Nothing to serve; `unsafe` when a candidate was refused by the path rules (logged as such). */
  | { readonly kind: 'none'; readonly unsafe: boolean };

/** What the lookup needs from the request, all of it already parsed by the pipeline. */
export interface FileRequest {
  /** The routing path (dot segments removed, still percent-encoded), no query. */
  readonly path: string;
  /** The matched route prefix ("/packs/"). */
  readonly prefix: string;
  readonly acceptEncoding: string | undefined;
}

/**
 * Finds the file a request names under `config.root`, per `tryFiles` (default: the path, then
 * its index when it ends in "/"). Nothing outside the root's real path is ever opened: the URL
 * path goes through safeRelative(), the result through realpath(), and what realpath() names
 * must sit inside the root's realpath — with no dot file on the way (a symlink to .env inside
 * the root is refused as .env itself would be). The root's realpath is taken per request, so a
 * deploy that swaps a `current` symlink is followed at once.
 *
 * The metadata calls (realpath, open, fstat, close) are synchronous, as nginx's are: on a local
 * file system each is a few µs of the event loop, while each asynchronous one is a thread-pool
 * round trip costing tens of µs of CPU (bench/RESULTS.md, "Serving files faster"). The body of
 * a large file is still read asynchronously (send.ts).
 */
export function lookup(config: FilesConfig, req: FileRequest): Lookup {
  let rootReal: string;
  try {
    rootReal = realpathSync.native(config.root);
  } catch {
    return { kind: 'none', unsafe: false };
  }
  const own = config.stripPrefix ? stripped(req.path, req.prefix) : req.path;
  const rest = req.path.startsWith(req.prefix) ? req.path.slice(req.prefix.length) : '';
  const candidates = config.tryFiles === null
    ? [own]
    : config.tryFiles.map((t) => t.map((p) => (typeof p === 'string' ? p : p.placeholder === 'path' ? own : rest)).join(''));
  let unsafe = false;
  for (const candidate of candidates) {
    const rel = safeRelative(candidate);
    if (rel === undefined) {
      unsafe = true;
      continue;
    }
    const found = openSafely(rootReal, rel);
    if (found === 'unsafe') {
      unsafe = true;
      continue;
    }
    if (found === undefined) continue;
    if (found.stat.isFile()) return withSibling(config, rootReal, found, req.acceptEncoding);
    closeSync(found.fd);
    if (!found.stat.isDirectory()) continue;
    if (!candidate.endsWith('/')) {
      // Without tryFiles the directory is redirected to its "/" form; in a tryFiles list a bare
      // directory matches nothing, as in nginx (only an entry ending in "/" names a directory).
      if (config.tryFiles === null) return { kind: 'directory' };
      continue;
    }
    for (const name of config.index) {
      const index = openSafely(rootReal, join(rel, name));
      if (index === undefined || index === 'unsafe') continue;
      if (index.stat.isFile()) return withSibling(config, rootReal, index, req.acceptEncoding);
      closeSync(index.fd);
    }
  }
  return { kind: 'none', unsafe };
}

/** `/packs/app.js` under prefix `/packs/` → `/app.js` (nginx `alias`); a prefix without "/" keeps the rest's own. */
function stripped(path: string, prefix: string): string {
  if (!path.startsWith(prefix)) return path;
  const rest = path.slice(prefix.length);
  return rest.startsWith('/') ? rest : `/${rest}`;
}

interface Opened {
  readonly fd: number;
  readonly stat: Stats;
  readonly real: string;
}

/** realpath → containment and dot-file check on the real path → open → fstat. undefined: not there. */
function openSafely(rootReal: string, rel: string): Opened | 'unsafe' | undefined {
  let real: string;
  try {
    real = realpathSync.native(join(rootReal, rel));
  } catch {
    return undefined;
  }
  if (!within(rootReal, real)) return 'unsafe';
  if (hasDotFile(relative(rootReal, real))) return 'unsafe';
  let fd: number;
  try {
    fd = openSync(real, 'r');
  } catch {
    return undefined;
  }
  try {
    return { fd, stat: fstatSync(fd), real };
  } catch {
    closeSync(fd);
    return undefined;
  }
}

/** A segment of the real path below the root starting with "." (but a leading .well-known, RFC 8615). */
function hasDotFile(below: string): boolean {
  const segments = below.split(sep);
  return segments.some((s, i) => s.charCodeAt(0) === 46 /* '.' */ && !(i === 0 && s === '.well-known'));
}

/**
 * The precompressed sibling (FILE.br …) the client accepts best, when one exists inside the
 * root and is no older than the file (a stale .gz after a deploy must not win); else the file.
 */
function withSibling(config: FilesConfig, rootReal: string, file: Opened, acceptEncoding: string | undefined): FoundFile {
  const plain: FoundFile = { kind: 'file', fd: file.fd, stat: file.stat, name: file.real, coding: undefined };
  if (config.precompressed.length === 0) return plain;
  for (const coding of negotiateAll(acceptEncoding, config.precompressed)) {
    const sibling = openSafely(rootReal, relative(rootReal, file.real) + SUFFIX[coding]);
    if (sibling === undefined || sibling === 'unsafe') continue;
    if (!sibling.stat.isFile() || sibling.stat.mtimeMs < file.stat.mtimeMs) {
      closeSync(sibling.fd);
      continue;
    }
    closeSync(file.fd);
    return { kind: 'file', fd: sibling.fd, stat: sibling.stat, name: file.real, coding };
  }
  return plain;
}
