// RFC 3986 reg-name characters a DNS host can use, or a bracketed IPv6 literal, then an optional port.
const HOST = /^(?:([a-z0-9_.-]+)|\[([0-9a-f:.]+)\])(?::\d{1,5})?$/i;

/**
 * The host part of a Host header, lower-case, without port or trailing dot; null when the
 * header is absent or malformed (RFC 9112 §3.2: a bad Host is a 400, never "some site").
 */
export function hostOf(header: string | undefined): string | null | undefined {
  if (header === undefined || header === '') return undefined;
  const plain = plainHost(header);
  if (plain !== undefined) return plain;
  const match = HOST.exec(header);
  if (match === null) return null;
  const name = match[1] ?? match[2] ?? '';
  const lower = name.toLowerCase();
  return lower.endsWith('.') ? lower.slice(0, -1) : lower;
}

/**
 * The Host almost every request carries — lower-case reg-name characters, then an optional port
 * of 1 to 5 digits — read without the regex or a lower-cased copy: hostOf()'s answer for exactly
 * those headers, undefined for anything else (the regex then decides).
 */
function plainHost(header: string): string | undefined {
  const n = header.length;
  let i = 0;
  for (; i < n; i++) {
    const c = header.charCodeAt(i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e || c === 0x5f)) break;
  }
  if (i === 0) return undefined;
  if (i < n) {
    // ":" and 1-5 digits to the end, or not the plain form.
    if (header.charCodeAt(i) !== 0x3a || n - i - 1 < 1 || n - i - 1 > 5) return undefined;
    for (let j = i + 1; j < n; j++) {
      const c = header.charCodeAt(j);
      if (c < 0x30 || c > 0x39) return undefined;
    }
  }
  const name = i === n ? header : header.slice(0, i);
  return name.charCodeAt(name.length - 1) === 0x2e ? name.slice(0, -1) : name;
}
