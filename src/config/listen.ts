import type { ListenAddress } from './types.js';
import type { Path, Reader } from './values.js';

/**
 * `listen.https`: one address, or a list of them (nginx's `listen 443 ssl; listen 8448 ssl;`).
 * Every site is served on each; the first is the one redirects and default WebSocket origins
 * name. Two entries the kernel would refuse to bind together — the same port on the same host,
 * or on all interfaces and one of them — are an error here rather than EADDRINUSE at start.
 * Port 0 (the OS picks) may repeat: tests and benches bind several that way.
 */
export function readHttps(r: Reader, raw: unknown, fallback: number, taken: readonly { readonly key: string; readonly address: ListenAddress | null }[]): readonly ListenAddress[] {
  const path: Path = ['listen', 'https'];
  if (!Array.isArray(raw)) return [r.listen(raw, path, false) ?? { host: undefined, port: fallback }];
  if (raw.length === 0) {
    r.error(path, 'expected at least one port, e.g. https: [443, 8448]');
    return [{ host: undefined, port: fallback }];
  }
  const out: ListenAddress[] = [];
  raw.forEach((entry, i) => {
    const address = r.listen(entry, [...path, i], false);
    if (address === null || address === undefined) return;
    const clash = out.findIndex((other) => overlaps(other, address));
    if (clash !== -1) return void r.error([...path, i], `${shown(address)} is already listed as listen.https[${clash}] (${shown(out[clash] as ListenAddress)}): each address once`);
    const other = taken.find((x) => x.address !== null && overlaps(x.address, address));
    if (other !== undefined) return void r.error([...path, i], `${shown(address)} is also ${other.key}: a port serves one listener`);
    out.push(address);
  });
  return out.length > 0 ? out : [{ host: undefined, port: fallback }];
}

/** Would binding both fail? The same port, and the same host or either on every interface. */
function overlaps(a: ListenAddress, b: ListenAddress): boolean {
  return a.port !== 0 && a.port === b.port && (a.host === undefined || b.host === undefined || a.host === b.host);
}

function shown(a: ListenAddress): string {
  return a.host === undefined ? `port ${a.port}` : `${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
