// RFC 3986 reg-name characters a DNS host can use, or a bracketed IPv6 literal, then an optional port.
const HOST = /^(?:([a-z0-9_.-]+)|\[([0-9a-f:.]+)\])(?::\d{1,5})?$/i;

/**
 * The host part of a Host header, lower-case, without port or trailing dot; null when the
 * header is absent or malformed (RFC 9112 §3.2: a bad Host is a 400, never "some site").
 */
export function hostOf(header: string | undefined): string | null | undefined {
  if (header === undefined || header === '') return undefined;
  const match = HOST.exec(header);
  if (match === null) return null;
  const name = match[1] ?? match[2] ?? '';
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}
