import { X509Certificate } from 'node:crypto';
import { request, type Agent } from 'node:https';

/** A DER tag-length-value: where its content starts and ends inside the buffer. */
interface Tlv {
  readonly tag: number;
  readonly start: number;
  readonly end: number;
}

function tlv(der: Buffer, at: number): Tlv {
  const tag = der[at];
  let len = der[at + 1];
  if (tag === undefined || len === undefined) throw new Error('DER: truncated');
  let start = at + 2;
  if (len & 0x80) {
    const bytes = len & 0x7f;
    if (bytes === 0 || bytes > 4) throw new Error('DER: unsupported length');
    len = 0;
    for (let i = 0; i < bytes; i++) len = len * 256 + (der[start + i] ?? 0);
    start += bytes;
  }
  if (start + len > der.length) throw new Error('DER: length past the end');
  return { tag, start, end: start + len };
}

function children(der: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.start; at < parent.end;) {
    const child = tlv(der, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

const AKI_OID = Buffer.from([0x55, 0x1d, 0x23]); // 2.5.29.35 authorityKeyIdentifier

/**
 * RFC 9773 §4.1: the ARI CertID is base64url(AKI keyIdentifier) "." base64url(serial), the
 * serial being the DER INTEGER's content bytes (a leading 00 included). Node exposes neither
 * as bytes, so both are read from the certificate's DER. Undefined when there is no AKI.
 */
export function ariCertId(pem: string | Buffer): string | undefined {
  const der = Buffer.from(new X509Certificate(pem).raw);
  const cert = tlv(der, 0);
  const tbs = children(der, cert)[0];
  if (tbs === undefined) return undefined;
  const fields = children(der, tbs);
  const hasVersion = fields[0]?.tag === 0xa0; // [0] EXPLICIT version
  const serial = fields[hasVersion ? 1 : 0];
  const extensionsWrapper = fields.find((f) => f.tag === 0xa3); // [3] EXPLICIT extensions
  if (serial === undefined || serial.tag !== 0x02 || extensionsWrapper === undefined) return undefined;
  const list = children(der, extensionsWrapper)[0];
  if (list === undefined) return undefined;
  for (const ext of children(der, list)) {
    const [oid, ...rest] = children(der, ext);
    if (oid === undefined || !der.subarray(oid.start, oid.end).equals(AKI_OID)) continue;
    const value = rest.find((r) => r.tag === 0x04); // extnValue OCTET STRING, after an optional critical BOOLEAN
    if (value === undefined) return undefined;
    const aki = tlv(der, value.start);
    const keyId = children(der, aki).find((c) => c.tag === 0x80); // [0] IMPLICIT keyIdentifier
    if (keyId === undefined) return undefined;
    return `${der.subarray(keyId.start, keyId.end).toString('base64url')}.${der.subarray(serial.start, serial.end).toString('base64url')}`;
  }
  return undefined;
}

export interface JsonResponse {
  readonly status: number;
  readonly retryAfter: string | undefined;
  readonly body: unknown;
}

/** GET a small JSON document (a directory, a renewalInfo) through `agent`; bounded in time and size. */
export function getJson(url: string, agent: Agent, timeoutMs = 15_000): Promise<JsonResponse> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > 1_048_576) req.destroy(new Error(`${url}: answer larger than 1 MiB`));
        else chunks.push(c);
      });
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: unknown = null;
        try {
          body = text === '' ? null : JSON.parse(text);
        } catch {
          body = null;
        }
        const retry = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: Array.isArray(retry) ? retry[0] : retry, body });
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`${url}: no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface RenewalWindow {
  readonly start: number;
  readonly end: number;
  /** When to ask again (Retry-After; RFC 9773 §4.3 suggests re-polling, we default to 6 h). */
  readonly recheckAt: number;
}

const DEFAULT_RECHECK_MS = 6 * 3_600_000;

/** Parse a renewalInfo answer; undefined when it is not a usable window. */
export function parseRenewalInfo(res: JsonResponse, now: number): RenewalWindow | undefined {
  if (res.status !== 200 || res.body === null || typeof res.body !== 'object') return undefined;
  const window = (res.body as { suggestedWindow?: { start?: unknown; end?: unknown } }).suggestedWindow;
  const start = typeof window?.start === 'string' ? Date.parse(window.start) : NaN;
  const end = typeof window?.end === 'string' ? Date.parse(window.end) : NaN;
  if (!Number.isFinite(start) || !Number.isFinite(end) || end < start) return undefined;
  let recheck = DEFAULT_RECHECK_MS;
  if (res.retryAfter !== undefined) {
    const seconds = Number(res.retryAfter);
    const date = Date.parse(res.retryAfter);
    if (Number.isFinite(seconds) && seconds > 0) recheck = seconds * 1000;
    else if (Number.isFinite(date)) recheck = Math.max(60_000, date - now);
  }
  return { start, end, recheckAt: now + Math.min(Math.max(recheck, 60_000), 86_400_000) };
}
