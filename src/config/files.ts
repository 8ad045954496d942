import { statSync } from 'node:fs';
import { resolve } from 'node:path';
// Up a floor on purpose: which codings this Node can encode is a fact of the runtime that the
// `compress` reader must check at load; negotiate.ts imports only node:zlib, so no circle can form.
import { CODINGS, zstdAvailable, type Coding } from '../compress/negotiate.js';
import { boolean, field, keysOf, list, map, object, oneOf, size, string } from './shape.js';
import type { Reader, Path } from './values.js';

/** A `tryFiles` entry, split at load time into literal text and the placeholders it names. */
export type FileTemplate = readonly (string | { readonly placeholder: 'path' | 'rest' })[];

/** `routes[].files` (README "Serving files"), fully defaulted. */
export interface FilesConfig {
  /** Absolute folder (relative to the config file when written relative). */
  readonly root: string;
  readonly index: readonly string[];
  /** null: the request's own path (then its index when it ends in "/"). */
  readonly tryFiles: readonly FileTemplate[] | null;
  /** Upstream name asked when no file matched (nginx `try_files … @app`); null: 404. */
  readonly fallback: string | null;
  /** Sibling codings served when present and accepted (FILE.br, FILE.zst, FILE.gz), in preference order. */
  readonly precompressed: readonly Coding[];
  /** The matched route prefix is removed before the file is looked up (nginx `alias`). */
  readonly stripPrefix: boolean;
}

/** When answers to requests with credentials are compressed (BREACH, README "Compression"). */
export type CredentialedPolicy = 'same-origin' | 'always' | 'never';

/** `compress` at site or route level (README "Compression"), fully defaulted. */
export interface CompressConfig {
  readonly algorithms: readonly Coding[];
  /** Lower-case media types without parameters; "text/*" covers every text type. */
  readonly types: readonly string[];
  readonly minLength: number;
  readonly credentialed: CredentialedPolicy;
}

/** `errorPages` of a site (README "Serving files"): status → absolute file. */
export interface ErrorPagesConfig {
  readonly pages: ReadonlyMap<number, string>;
  /** Also replace the bodies of the upstream's own answers with those statuses. */
  readonly upstream: boolean;
}

export const FILES_DEFAULTS = {
  files: { index: ['index.html'], precompressed: [], stripPrefix: false },
  compress: {
    algorithms: ['zstd', 'br', 'gzip'],
    types: [
      'text/*', 'application/javascript', 'application/json', 'application/xml', 'application/wasm',
      'application/manifest+json', 'application/ld+json', 'application/rss+xml', 'application/atom+xml',
      'application/xhtml+xml', 'image/svg+xml',
    ],
    minLength: '1k',
    credentialed: 'same-origin',
  },
  errorPages: { upstream: false },
} as const;

const PLACEHOLDERS = ['path', 'rest'] as const;
const fd = FILES_DEFAULTS;

/** `routes[].files`. */
export const FILES = object({
  root: string(),
  index: list(string(), { default: fd.files.index }),
  tryFiles: list(string()),
  fallback: string(),
  precompressed: list(oneOf(CODINGS), { default: fd.files.precompressed }),
  stripPrefix: boolean(fd.files.stripPrefix),
}, { required: ['root'] });
/** `compress` of a site or route: true, false, or these keys. */
export const COMPRESS = object({
  algorithms: list(oneOf(CODINGS)),
  types: list(string(), { default: fd.compress.types }),
  minLength: size(0, Number.MAX_SAFE_INTEGER, fd.compress.minLength),
  credentialed: oneOf(['same-origin', 'always', 'never'] as const, fd.compress.credentialed),
}, { orBoolean: 'both' });
/** `errorPages` of a site: "404" or "502 503 504" → file, and `upstream`. */
export const ERROR_PAGES = map(string(), { fixed: { upstream: boolean(fd.errorPages.upstream) }, names: '^\\s*[45]\\d\\d([\\s,]+[45]\\d\\d)*\\s*$' });

/** `files:` of a route; `dir` anchors a relative root. Upstream names are checked by the caller's list. */
export function readFiles(r: Reader, raw: unknown, path: Path, dir: string, upstreams: ReadonlySet<string>): FilesConfig | undefined {
  const o = r.object(raw, path, keysOf(FILES));
  if (o === undefined) return undefined;
  const d = FILES_DEFAULTS.files;
  const rootText = o.root === undefined ? r.error(path, 'missing "root" (the folder files are served from)') : r.string(o.root, [...path, 'root']);
  const root = rootText === undefined ? '' : resolve(dir, rootText);
  if (rootText !== undefined && !isDirectory(root)) r.warn([...path, 'root'], `${root} is not a folder (yet): every request here gets 404 until it is`);
  const index = (r.list(o.index ?? d.index, [...path, 'index']) ?? [])
    .map((v, i) => fileName(r, v, [...path, 'index', i]))
    .filter((v): v is string => v !== undefined);
  let tryFiles: FileTemplate[] | null = null;
  if (o.tryFiles !== undefined) {
    tryFiles = [];
    for (const [i, v] of (r.list(o.tryFiles, [...path, 'tryFiles']) ?? []).entries()) {
      const template = readTemplate(r, v, [...path, 'tryFiles', i]);
      if (template !== undefined) tryFiles.push(template);
    }
  }
  let fallback: string | null = null;
  if (o.fallback !== undefined) {
    const name = r.string(o.fallback, [...path, 'fallback']);
    if (name !== undefined && !upstreams.has(name)) r.error([...path, 'fallback'], `unknown upstream "${name}"`);
    else if (name !== undefined) fallback = name;
  }
  const precompressed = readCodings(r, o.precompressed ?? d.precompressed, [...path, 'precompressed'], false);
  const stripPrefix = field(r, o, path, 'stripPrefix', FILES.keys.stripPrefix);
  return { root, index, tryFiles, fallback, precompressed, stripPrefix };
}

/** `compress: true | false | { algorithms, types, minLength, credentialed }`; null: off. */
export function readCompress(r: Reader, raw: unknown, path: Path): CompressConfig | null | undefined {
  if (raw === undefined) return undefined;
  if (raw === false || raw === null) return null;
  const o = raw === true ? {} : r.object(raw, path, keysOf(COMPRESS)) ?? {};
  const d = FILES_DEFAULTS.compress;
  const algorithms = o.algorithms === undefined
    ? d.algorithms.filter((c) => c !== 'zstd' || zstdAvailable())
    : readCodings(r, o.algorithms, [...path, 'algorithms'], true);
  const types = (r.list(o.types ?? d.types, [...path, 'types']) ?? []).flatMap((v, i) => {
    const text = r.string(v, [...path, 'types', i])?.toLowerCase();
    if (text === undefined) return [];
    if (!/^[a-z0-9!#$&^_.+-]+\/(\*|[a-z0-9!#$&^_.+-]+)$/.test(text)) return r.error([...path, 'types', i], `"${text}" is not a media type such as text/html or text/*`) ?? [];
    return [text];
  });
  const minLength = field(r, o, path, 'minLength', COMPRESS.keys.minLength);
  const credentialed = field(r, o, path, 'credentialed', COMPRESS.keys.credentialed);
  return { algorithms, types, minLength, credentialed };
}

/** `errorPages: { 404: FILE, "502 503 504": FILE, upstream: false }` of a site. */
export function readErrorPages(r: Reader, raw: unknown, path: Path, dir: string): ErrorPagesConfig | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== 'object' || Array.isArray(raw)) return r.error(path, 'expected a mapping of status (or "502 503 504") → file, and upstream: true|false') ?? null;
  const pages = new Map<number, string>();
  let upstream: boolean = FILES_DEFAULTS.errorPages.upstream;
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key === 'upstream') {
      upstream = r.boolean(value, [...path, key]) ?? upstream;
      continue;
    }
    const statuses = key.trim().split(/[\s,]+/).map(Number);
    if (statuses.some((s) => !Number.isInteger(s) || s < 400 || s > 599)) {
      r.error([...path, key], `"${key}" is not a status from 400 to 599 (or a list of them: "502 503 504")`, 'key');
      continue;
    }
    const text = r.string(value, [...path, key]);
    if (text === undefined) continue;
    const file = resolve(dir, text);
    if (!isFile(file)) r.warn([...path, key], `${file} cannot be read now: the plain answer is sent until it can`);
    for (const status of statuses) pages.set(status, file);
  }
  return { pages, upstream };
}

function readCodings(r: Reader, raw: unknown, path: Path, needOne: boolean): Coding[] {
  const out: Coding[] = [];
  for (const [i, v] of (r.list(raw, path) ?? []).entries()) {
    const coding = r.oneOf(v, [...path, i], CODINGS);
    if (coding === undefined) continue;
    if (out.includes(coding)) r.error([...path, i], `${coding} is listed twice`);
    else if (coding === 'zstd' && needOne && !zstdAvailable()) r.error([...path, i], 'this Node.js has no zstd (node:zlib gained it in 22.15 and 23.8)');
    else out.push(coding);
  }
  if (needOne && out.length === 0 && Array.isArray(raw)) r.error(path, 'name at least one of zstd, br, gzip (or write compress: false)');
  return out;
}

function fileName(r: Reader, v: unknown, path: Path): string | undefined {
  const name = r.string(v, path);
  if (name !== undefined && (name.includes('/') || name.includes('\\') || name.startsWith('.'))) return r.error(path, 'an index is a plain file name such as index.html');
  return name;
}

/** "{path}.html" → ['', {path}, '.html'] parts; unknown placeholders are errors (README "Placeholders"). */
function readTemplate(r: Reader, v: unknown, path: Path): FileTemplate | undefined {
  const text = r.string(v, path);
  if (text === undefined) return undefined;
  const parts: (string | { placeholder: 'path' | 'rest' })[] = [];
  let literal = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if ((c === '{' || c === '}') && text[i + 1] === c) {
      literal += c;
      i++;
      continue;
    }
    if (c === '}') return r.error(path, 'a lone "}" (write "}}" for a literal brace)');
    if (c !== '{') {
      literal += c;
      continue;
    }
    const close = text.indexOf('}', i);
    const name = close === -1 ? '' : text.slice(i + 1, close);
    if (!(PLACEHOLDERS as readonly string[]).includes(name)) return r.error(path, `unknown placeholder "{${name}}" in tryFiles (known: {path}, {rest})`);
    if (literal !== '') parts.push(literal);
    literal = '';
    parts.push({ placeholder: name as 'path' | 'rest' });
    i = close;
  }
  if (literal !== '') parts.push(literal);
  const first = parts[0];
  if (typeof first === 'string' && !first.startsWith('/')) return r.error(path, 'a tryFiles entry is a path starting with "/" or a placeholder, e.g. "{path}.html"');
  return parts;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** The keys of a route this file reads, for the route's own key list. */
export const ROUTE_KEYS = ['files', 'compress', 'internal'] as const;
export const SITE_KEYS = ['compress', 'errorPages'] as const;

/** A route's `files`, `compress` (else the site's) and `internal`; `hasUpstream`: the route names one. */
export function readRouteExtras(
  r: Reader, o: Record<string, unknown>, path: Path, dir: string, upstreams: ReadonlySet<string>, site: CompressConfig | null, hasUpstream: boolean,
): { files: FilesConfig | null; compress: CompressConfig | null; internal: boolean } {
  const files = o.files === undefined ? null : readFiles(r, o.files, [...path, 'files'], dir, upstreams) ?? null;
  if (files !== null && hasUpstream) r.error([...path, 'files'], 'a route has one action: "upstream" or "files" (files.fallback names the upstream asked when no file matches)');
  const compress = readCompress(r, o.compress, [...path, 'compress']);
  const internal = r.boolean(o.internal ?? false, [...path, 'internal']) ?? false;
  if (internal && files === null) r.error([...path, 'internal'], 'internal: true is for "files" routes that upstreams reach with X-Accel-Redirect');
  return { files, compress: compress === undefined ? site : compress, internal };
}

/** A site's `compress` and `errorPages`. */
export function readSiteExtras(r: Reader, o: Record<string, unknown>, path: Path, dir: string): { compress: CompressConfig | null; errorPages: ErrorPagesConfig | null } {
  return {
    compress: readCompress(r, o.compress, [...path, 'compress']) ?? null,
    errorPages: readErrorPages(r, o.errorPages, [...path, 'errorPages'], dir),
  };
}
