import { sep } from 'node:path';

/**
 * The file-system path a URL path names under `root`, or undefined when it must not be served.
 * Safe by construction, whatever the encoding (README "Serving files"):
 * - the path is split on "/" *before* decoding, so "%2F" can never become a separator, and any
 *   segment that decodes to "/", "\\" or NUL is refused (nginx decodes "%2F" first, then walks);
 * - each segment is decoded as strict UTF-8: "%c0%ae" (overlong ".") and other invalid
 *   sequences throw in decodeURIComponent and are refused (RFC 3629 §3 forbids overlongs);
 * - "." and ".." segments are refused even after decoding ("%2e%2e"): routingPath() already
 *   removed them, so one left here was hidden from it;
 * - a segment starting with "." is refused (dot files: .git, .env, .htpasswd), except a leading
 *   ".well-known" (RFC 8615).
 * Symlinks are checked by the caller (realpath against the root's realpath).
 * `urlPath` is the path part without the query, still percent-encoded.
 */
export function safeRelative(urlPath: string): string | undefined {
  if (urlPath.charCodeAt(0) !== 47 /* '/' */) return undefined;
  const segments = urlPath.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading "/"; empty segments ("//") are skipped.
  for (let i = 1; i < segments.length; i++) {
    const raw = segments[i] as string;
    if (raw === '') continue;
    let segment: string;
    if (raw.indexOf('%') === -1) {
      segment = raw;
    } else {
      try {
        segment = decodeURIComponent(raw);
      } catch {
        return undefined;
      }
    }
    if (UNSAFE_CHARS.test(segment)) return undefined;
    if (segment.charCodeAt(0) === 46 /* '.' */) {
      if (segment === '.' || segment === '..') return undefined;
      if (!(out.length === 0 && segment === '.well-known')) return undefined;
    }
    out.push(segment);
  }
  return out.join(sep);
}

/** Separators and NUL in any form a file system might honour, and ASCII controls. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it refuses
const UNSAFE_CHARS = /[/\\\0-\x1f\x7f]/;

/** True when `real` (a realpath) is `root` itself or inside it (both realpaths). */
export function within(root: string, real: string): boolean {
  return real === root || real.startsWith(root.endsWith(sep) ? root : root + sep);
}
