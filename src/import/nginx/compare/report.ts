import { NAMED, type Difference, type NamedKey } from './diff.js';
import type { CompareRequest } from './requests.js';

/** Request headers worth showing in a report line: the ones that make the request special. */
const SHOWN = ['origin', 'authorization', 'x-compare-answer', 'x-forwarded-for'];

/** `GET https://app.test/api/ [upgrade origin: https://app.test]`, the port written as in the original. */
export function describeRequest(r: CompareRequest): string {
  const scheme = r.listen.ssl ? 'https' : 'http';
  const host = r.host.replace('{port}', String(r.listen.port));
  const port = host.includes(':') || r.listen.port === (r.listen.ssl ? 443 : 80) ? '' : `:${r.listen.port}`;
  const extras = SHOWN.filter((h) => r.headers[h] !== undefined).map((h) => `${h}: ${r.headers[h] ?? ''}`);
  const tag = r.kind === 'path' || r.kind === 'method' ? '' : ` [${[r.kind, ...extras].join(' ')}]`;
  return `${r.method} ${scheme}://${host}${port}${r.path}${tag}`;
}

/**
 * The report: one line per counted difference (request, field, both answers), then each named
 * difference once with how often it appeared and one example, then the summary line.
 */
export function formatReport(requests: number, differences: readonly Difference[], nginxVersion: string, ports: number): string {
  const lines: string[] = [];
  const counted = differences.filter((d) => d.named === undefined);
  for (const d of counted) lines.push(`differs  ${describeRequest(d.request)}  ${d.field}: nginx ${d.nginx} | gatehouse ${d.gatehouse}  (${d.request.from})`);
  const named = new Map<NamedKey, Difference[]>();
  for (const d of differences) if (d.named !== undefined) named.set(d.named, [...(named.get(d.named) ?? []), d]);
  for (const [key, ds] of named) {
    const e = ds[0] as Difference;
    lines.push(`named    ${NAMED[key]}: ${ds.length} answer${ds.length === 1 ? '' : 's'}, e.g. ${describeRequest(e.request)}  ${e.field}: nginx ${e.nginx} | gatehouse ${e.gatehouse}`);
  }
  const failing = new Set(counted.map((d) => d.request)).size;
  lines.push(`${requests} requests to ${nginxVersion} and to Gatehouse on ${ports} port${ports === 1 ? '' : 's'}: `
    + (counted.length === 0 ? 'no counted difference' : `${counted.length} counted difference${counted.length === 1 ? '' : 's'} in ${failing} request${failing === 1 ? '' : 's'}`)
    + (named.size === 0 ? '' : `; named (Gatehouse's design, not counted): ${[...named.keys()].map((k) => NAMED[k]).join('; ')}`)
    + '. Not compared: X-Forwarded-*, X-Real-IP and Forwarded at the backend (Gatehouse writes its own), Server, Date, the WebSocket tunnel after 101.');
  return lines.join('\n');
}
