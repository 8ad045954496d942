/**
 * The path a request-target is routed by: its path part with percent-encoded unreserved
 * characters decoded (RFC 3986 §6.2.2.2: "%2e" or "%2D" mean the same as "." or "-", and
 * backends decode them) and dot segments removed (RFC 3986 §5.2.4). Without this,
 * "/widget/../admin-ws" would match /widget's route and Origin policy while the upstream serves
 * /admin-ws. null when the path climbs above "/" (nginx answers 400 too). Reserved characters
 * ("%2F") stay encoded. The request-target itself still goes upstream unchanged.
 */
export function routingPath(target: string): string | null {
  // Fast path: most targets have neither a dot nor a percent sign, and route as they are.
  if (target.indexOf('.') === -1 && target.indexOf('%') === -1) return target;
  const query = target.indexOf('?');
  const raw = query === -1 ? target : target.slice(0, query);
  const path = raw.indexOf('%') === -1 ? raw : raw.replace(ENCODED_UNRESERVED, decodeUnreserved);
  if (path.indexOf('.') === -1) return path;
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    if (segment !== '.' && segment !== '..') {
      out.push(segment);
      continue;
    }
    if (segment === '..') {
      if (out.length === 0) return null;
      out.pop();
    }
    // "/a/." and "/a/b/.." name a directory: the output keeps the trailing "/".
    if (last) out.push('');
  }
  return `/${out.join('/')}`;
}

const ENCODED_UNRESERVED = /%([0-9A-Fa-f]{2})/g;

/** RFC 3986 §2.3 unreserved: ALPHA / DIGIT / "-" / "." / "_" / "~"; anything else stays encoded. */
function decodeUnreserved(match: string, hex: string): string {
  const c = String.fromCharCode(parseInt(hex, 16));
  return /^[A-Za-z0-9\-._~]$/.test(c) ? c : match;
}
