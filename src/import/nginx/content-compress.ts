import { nearestOne } from './scope.js';
import { flag, own, size, type Ctx } from './content-util.js';

// nginx compresses only text/html unless gzip_types adds more, answers of 20 bytes and up, at level 1.
const NGINX_MIN_LENGTH = '20';
const GATEHOUSE_LEVEL = '6';
// What Gatehouse says for nginx's `gzip_types *;` (every type): its default list.
const EVERY_TYPE_NOTE = 'nginx compresses every type here; Gatehouse compresses the types it names (its default list: text, JS, JSON, XML, SVG, wasm, manifest)';

/**
 * `gzip on` and its settings in force at this location → the route's `compress` (README "Compression"),
 * written as nginx behaves: gzip only (plus br with `brotli on`), nginx's types and min length.
 */
export function translateCompress(ctx: Ctx, route: Record<string, unknown>): void {
  const { scope, report, consumed } = ctx;
  for (const d of own(scope, 'gunzip')) {
    consumed.add(d);
    if (flag(d) === true) report.unsupported(d, 'Gatehouse does not decompress gzip answers for clients that cannot take them');
  }
  const gzip = nearestOne(scope, 'gzip');
  const brotli = nearestOne(scope, 'brotli');
  const gzipOn = flag(gzip) === true;
  const brotliOn = flag(brotli) === true;
  if (gzip !== undefined) consumed.add(gzip);
  if (brotli !== undefined) consumed.add(brotli);
  if (!gzipOn && !brotliOn) return;
  const compress: Record<string, unknown> = { algorithms: [...(brotliOn ? ['br'] : []), ...(gzipOn ? ['gzip'] : [])] };
  const on = gzipOn ? gzip : brotli;
  if (on !== undefined) {
    report.difference(on, 'answers to cross-site requests that carry cookies stay uncompressed (BREACH, README "Compression"); compress.credentialed: always is nginx\'s behaviour');
  }

  const typesDirective = nearestOne(scope, gzipOn ? 'gzip_types' : 'brotli_types');
  const types = ['text/html'];
  let everyType = false;
  if (typesDirective !== undefined) {
    consumed.add(typesDirective);
    for (const t of typesDirective.args.map((a) => a.toLowerCase())) {
      if (t === '*') everyType = true;
      else if (!types.includes(t)) types.push(t);
    }
    if (everyType) report.difference(typesDirective, EVERY_TYPE_NOTE);
  }
  if (!everyType) compress.types = types;

  const minDirective = nearestOne(scope, gzipOn ? 'gzip_min_length' : 'brotli_min_length');
  const min = minDirective?.args[0] === undefined ? NGINX_MIN_LENGTH : size(minDirective.args[0]);
  if (minDirective !== undefined) consumed.add(minDirective);
  if (min === undefined) {
    if (minDirective !== undefined) report.unsupported(minDirective, 'not a size');
  } else {
    compress.minLength = /^\d+$/.test(min) ? Number(min) : min;
  }

  const level = nearestOne(scope, 'gzip_comp_level');
  if (level !== undefined) {
    consumed.add(level);
    if (level.args[0] !== GATEHOUSE_LEVEL) report.difference(level, `Gatehouse compresses gzip at level ${GATEHOUSE_LEVEL} (the same content, other bytes)`);
  }
  const brotliLevel = nearestOne(scope, 'brotli_comp_level');
  if (brotliLevel !== undefined) {
    consumed.add(brotliLevel);
    if (brotliLevel.args[0] !== '4') report.difference(brotliLevel, 'Gatehouse compresses brotli at level 4 (the same content, other bytes)');
  }

  const vary = nearestOne(scope, 'gzip_vary');
  if (vary !== undefined) {
    consumed.add(vary);
    if (flag(vary) === false) report.difference(vary, 'Gatehouse always adds Vary: Accept-Encoding to what it could compress, as caches need');
  }
  const proxied = nearestOne(scope, 'gzip_proxied');
  if (proxied !== undefined) {
    consumed.add(proxied);
    if (!proxied.args.includes('any')) {
      report.difference(proxied, 'Gatehouse compresses answers to requests that came through another proxy (Via) as to any other (nginx: gzip_proxied any)');
    }
  }
  const disable = nearestOne(scope, 'gzip_disable');
  if (disable !== undefined) {
    consumed.add(disable);
    // "msie6" names Internet Explorer 4–6, which no longer reach anyone's server.
    if (disable.args.some((a) => a !== 'msie6')) report.difference(disable, 'Gatehouse does not choose compression by User-Agent');
  }
  const version = nearestOne(scope, 'gzip_http_version');
  if (version !== undefined) {
    consumed.add(version);
    if (version.args[0] !== '1.1') report.difference(version, 'Gatehouse compresses for HTTP/1.0 clients too');
  }
  for (const name of ['gzip_buffers', 'brotli_buffers', 'brotli_window']) {
    const d = nearestOne(scope, name);
    if (d === undefined) continue;
    consumed.add(d);
    report.meaningless(d, 'buffer tuning: Gatehouse streams with its own buffers');
  }
  route.compress = compress;
}
