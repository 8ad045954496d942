/** Decides whether a WebSocket upgrade's Origin may pass; built once per route at load time. */
export interface OriginMatcher {
  allows(origin: string): boolean;
}

interface Pattern {
  readonly prefix: string; // "https://"
  readonly suffix: string; // ".example.com" or ".example.com:8443"
}

const DEFAULT_PORTS: Readonly<Record<string, string>> = { 'http:': '80', 'https:': '443', 'ws:': '80', 'wss:': '443' };

/**
 * An Origin header in RFC 6454 §6.1 serialisation: lower-case scheme and host, default port
 * elided, no path. Returns undefined for "null", paths, credentials or anything unparsable.
 */
export function serialiseOrigin(value: string): string | undefined {
  const match = /^([a-z][a-z0-9+.-]*):\/\/([^/?#@\s]+)$/i.exec(value);
  if (match === null) return undefined;
  const scheme = `${(match[1] as string).toLowerCase()}:`;
  let url: URL;
  try {
    url = new URL(`${scheme}//${match[2] as string}`);
  } catch {
    return undefined;
  }
  const port = url.port === '' || url.port === DEFAULT_PORTS[scheme] ? '' : `:${url.port}`;
  return `${scheme}//${url.hostname}${port}`;
}

/** Entries are serialised origins or "scheme://*.domain[:port]" patterns (subdomains only, any depth). */
export function compileOrigins(entries: readonly string[]): OriginMatcher {
  const exact = new Set<string>();
  const patterns: Pattern[] = [];
  for (const entry of entries) {
    const star = entry.indexOf('://*.');
    if (star === -1) exact.add(entry);
    else patterns.push({ prefix: entry.slice(0, star + 3), suffix: entry.slice(star + 4) });
  }
  return {
    allows(origin: string): boolean {
      if (exact.has(origin)) return true; // browsers already send the serialised form
      const normal = serialiseOrigin(origin);
      if (normal === undefined) return false;
      if (exact.has(normal)) return true;
      for (const p of patterns) {
        if (!normal.startsWith(p.prefix) || !normal.endsWith(p.suffix)) continue;
        // "https://*.example.com" must not admit "https://evilexample.com" or "https://.example.com".
        const label = normal.slice(p.prefix.length, normal.length - p.suffix.length);
        if (label !== '' && !label.includes(':') && !label.includes('/')) return true;
      }
      return false;
    },
  };
}
