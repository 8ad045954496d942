// responseHeaders() compares names in place, case folded (src/http/hop-by-hop.ts): for every head
// it must give what the plain version gives (a lower-cased copy of each name looked up in a Set).
import t from 'tap';
import { responseHeaders } from '../src/http/hop-by-hop.js';

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
