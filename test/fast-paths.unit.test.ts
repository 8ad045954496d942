// The request path's fast paths against the plain versions they stand in for, over many generated
// inputs: responseHeaders() comparing names in place, case folded (src/http/hop-by-hop.ts, plain:
// a lower-cased copy of each name looked up in a Set); hostOf() reading a plain Host without its
// regex (src/http/host.ts); a plain Content-Length made into its number as its digits are checked
// (src/upstream/message-syntax.ts, plain: Number()).
import t from 'tap';
import { responseHeaders } from '../src/http/hop-by-hop.js';
import { hostOf } from '../src/http/host.js';
import { contentLength } from '../src/upstream/message-syntax.js';

const DROPPED = ['connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te', 'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'strict-transport-security'];

/** The plain version, as it was: the reference. */
function reference(raw: readonly string[], tokens: readonly string[], hsts: string | null, close: boolean, status: number): string[] {
  const hop = new Set(DROPPED);
  const protectedNames = new Set(['host', 'content-length']);
  const out: string[] = [];
  const bodiless = status < 200 || status === 204;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (hop.has(lower)) continue;
    if (bodiless && lower === 'content-length') continue;
    if (tokens.length > 0 && tokens.includes(lower) && !protectedNames.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  if (hsts !== null) out.push('strict-transport-security', hsts);
  if (close) out.push('connection', 'close');
  return out;
}

const TCHARS = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";

t.test('the same pairs as the lower-casing version, for generated heads', async (t) => {
  let seed = 26;
  const next = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return (seed >>> 8) % n;
  };
  const known = [...DROPPED, 'content-length', 'host', 'content-type', 'x-custom', 'date', 'set-cookie'];
  /** A known name in random case, one letter off, one letter short, or a random token (some with latin1 letters past ASCII). */
  const nameOf = (): string => {
    const base = known[next(known.length)] as string;
    const cased = [...base].map((c) => (next(2) === 0 ? c.toUpperCase() : c)).join('');
    switch (next(6)) {
      case 0: {
        const i = next(cased.length);
        return `${cased.slice(0, i)}${TCHARS[next(TCHARS.length)]}${cased.slice(i + 1)}`;
      }
      case 1: return cased.slice(0, -1);
      case 2: return Array.from({ length: 1 + next(20) }, () => TCHARS[next(TCHARS.length)]).join('');
      case 3: return `${cased.slice(0, -1)}${String.fromCharCode(0xc0 + next(64))}`;
      default: return cased;
    }
  };
  let differences = 0;
  for (let n = 0; n < 20000; n++) {
    const raw: string[] = [];
    for (let f = next(12); f > 0; f--) raw.push(nameOf(), `v${f}`);
    const tokens = Array.from({ length: next(4) }, () => nameOf().toLowerCase());
    const status = [100, 101, 103, 200, 204, 206, 304, 404, 502][next(9)] as number;
    const hsts = next(2) === 0 ? null : 'max-age=63072000';
    const close = next(3) === 0;
    const got = responseHeaders(raw, tokens, hsts, close, status);
    const want = reference(raw, tokens, hsts, close, status);
    if (JSON.stringify(got) !== JSON.stringify(want) && differences++ < 5) t.same(got, want, JSON.stringify({ raw, tokens, status }));
  }
  t.equal(differences, 0, '20,000 heads, no difference');
});

t.test('hop-by-hop names in any case, Connection-listed names, Content-Length on bodiless answers', async (t) => {
  const raw = ['Content-Type', 'text/plain', 'CONNECTION', 'x-Trace, Host', 'Keep-Alive', 'timeout=5', 'X-TRACE', '1', 'Host', 'h', 'Content-Length', '3', 'Strict-Transport-Security', 'max-age=0', 'TE', 'trailers'];
  t.same(responseHeaders(raw, ['x-trace', 'host'], 'max-age=1', true, 200), ['Content-Type', 'text/plain', 'Host', 'h', 'Content-Length', '3', 'strict-transport-security', 'max-age=1', 'connection', 'close']);
  t.same(responseHeaders(raw, [], null, false, 204), ['Content-Type', 'text/plain', 'X-TRACE', '1', 'Host', 'h']);
  t.same(responseHeaders(['content-length', '0'], ['content-length'], null, false, 304), ['content-length', '0'], 'a 304 keeps its length; Connection cannot name it away');
});

/** A seeded generator of small integers. */
function generator(seed: number): (n: number) => number {
  let state = seed;
  return (n) => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return (state >>> 8) % n;
  };
}

t.test('hostOf: the same answer as its regex alone, for generated Host headers', async (t) => {
  const HOST = /^(?:([a-z0-9_.-]+)|\[([0-9a-f:.]+)\])(?::\d{1,5})?$/i;
  const reference = (header: string | undefined): string | null | undefined => {
    if (header === undefined || header === '') return undefined;
    const match = HOST.exec(header);
    if (match === null) return null;
    const lower = (match[1] ?? match[2] ?? '').toLowerCase();
    return lower.endsWith('.') ? lower.slice(0, -1) : lower;
  };
  const next = generator(443);
  const alphabet = 'abcxyz0189-._:ABZ[]/@ \t%\u00e9\u0130\u212a\n';
  const bases = ['example.com', 'localhost', '127.0.0.1', 'a', '.', 'x.', 'www.example.com.', '[::1]', '[2001:db8::1]'];
  let differences = 0;
  for (let n = 0; n < 30000; n++) {
    let header: string;
    if (next(2) === 0) {
      header = Array.from({ length: next(14) }, () => alphabet[next(alphabet.length)]).join('');
    } else {
      header = bases[next(bases.length)] as string;
      if (next(3) === 0) header = header.toUpperCase();
      const port = ['', ':', ':4', ':443', ':18502', ':123456', ':8a', '::80', ': 80'][next(9)] as string;
      header += port;
      if (next(8) === 0) header += alphabet[next(alphabet.length)];
    }
    if (hostOf(header) !== reference(header) && differences++ < 5) t.equal(hostOf(header), reference(header), JSON.stringify(header));
  }
  for (const header of [undefined, '', 'localhost:18502', 'Example.COM', 'example.com.:443', '.:1', 'a:', 'a:123456', 'a:12345', '[::1]:443', 'a\n']) {
    t.equal(hostOf(header), reference(header), JSON.stringify(header));
  }
  t.equal(differences, 0, '30,000 headers, no difference');
});

t.test('contentLength: a plain length is the number Number() reads, up to 15 digits', async (t) => {
  const next = generator(100);
  for (let n = 0; n < 20000; n++) {
    const digits = Array.from({ length: 1 + next(15) }, () => String(next(10))).join('');
    if (contentLength(digits, -1) !== Number(digits)) t.fail(digits);
  }
  for (const v of ['0', '000', '007', '999999999999999', '000000000000001']) t.equal(contentLength(v, -1), Number(v), v);
  t.throws(() => contentLength('9999999999999999', -1), { code: 'HPE_INVALID_CONTENT_LENGTH' }, '16 digits');
  t.throws(() => contentLength('12', 13), { code: 'HPE_UNEXPECTED_CONTENT_LENGTH' });
});
