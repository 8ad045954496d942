/**
 * The path a request-target is routed by: its path part with dot segments removed (RFC 3986
 * §5.2.4), "%2e" counted as "." (RFC 3986 §2.3: an unreserved character means the same encoded
 * or not, and backends decode it). Without this, "/widget/../admin-ws" would match /widget's
 * route and Origin policy while the upstream serves /admin-ws. null when the path climbs above
 * "/" (nginx answers 400 too). The request-target itself still goes upstream unchanged.
 */
export function routingPath(target: string): string | null {
  // Fast path: most targets have no dot and no "%2e" at all, and route as they are.
  if (target.indexOf('.') === -1 && target.indexOf('%2e') === -1 && target.indexOf('%2E') === -1) return target;
  const query = target.indexOf('?');
  const path = query === -1 ? target : target.slice(0, query);
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is the empty string before the leading "/".
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i] as string;
    const last = i === segments.length - 1;
    const dots = dotCount(segment);
    if (dots === 0) {
      out.push(segment);
      continue;
    }
    if (dots === 2) {
      if (out.length === 0) return null;
      out.pop();
    }
    // "/a/." and "/a/b/.." name a directory: the output keeps the trailing "/".
    if (last) out.push('');
  }
  return `/${out.join('/')}`;
}

/** 1 for ".", 2 for "..", in any mix of literal and percent-encoded dots; 0 for anything else. */
function dotCount(segment: string): number {
  if (segment.length === 0 || segment.length > 6) return 0;
  const plain = segment.replace(/%2e/gi, '.');
  return plain === '.' ? 1 : plain === '..' ? 2 : 0;
}
