import t from 'tap';
import type { IncomingHttpHeaders } from 'node:http';
import { applyForwarded, buildTrust, normaliseIp } from '../src/http/forwarded.js';
import { sanitiseClientHeaders, stripHopByHop } from '../src/http/hop-by-hop.js';
import { hostOf } from '../src/http/host.js';
import { compileOrigins, serialiseOrigin } from '../src/pipeline/origin.js';
import { parseCidr } from '../src/config/values.js';

const trust = (...c: string[]) => buildTrust(c.map((x) => parseCidr(x) as NonNullable<ReturnType<typeof parseCidr>>));

t.test('untrusted peer: everything it claimed is dropped, not appended to', async (t) => {
  const h: IncomingHttpHeaders = { host: 'app.test', 'x-forwarded-for': '1.2.3.4', 'x-real-ip': '1.2.3.4', 'x-forwarded-host': 'evil', 'x-forwarded-proto': 'http', forwarded: 'for=1.2.3.4' };
  const r = applyForwarded(h, '198.51.100.9', trust('10.0.0.0/8'));
  t.equal(r.clientIp, '198.51.100.9');
  t.strictSame(h, { host: 'app.test', 'x-forwarded-for': '198.51.100.9', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'app.test', 'x-real-ip': '198.51.100.9' });
});

t.test('trusted peer: chain kept and extended; client = right-most untrusted', async (t) => {
  const h: IncomingHttpHeaders = { host: 'app.test', 'x-forwarded-for': '6.6.6.6, 203.0.113.5, 10.0.0.2' };
  const r = applyForwarded(h, '10.0.0.1', trust('10.0.0.0/8'));
  t.equal(r.clientIp, '203.0.113.5', 'the spoofable left part is not believed');
  t.equal(h['x-forwarded-for'], '6.6.6.6, 203.0.113.5, 10.0.0.2, 10.0.0.1');
  t.equal(h['x-real-ip'], '203.0.113.5');
});

t.test('trusted peer with garbage in the chain stops at the garbage', async (t) => {
  const h: IncomingHttpHeaders = { 'x-forwarded-for': 'not-an-ip, 10.0.0.3' };
  t.equal(applyForwarded(h, '10.0.0.1', trust('10.0.0.0/8')).clientIp, '10.0.0.3');
});

t.test('IPv4-mapped IPv6 is the IPv4 client', async (t) => {
  t.equal(normaliseIp('::ffff:192.0.2.1'), '192.0.2.1');
  t.equal(normaliseIp('::1'), '::1');
  t.equal(normaliseIp('::ffff:zzz'), '::ffff:zzz');
});

t.test('hop-by-hop and Connection-named headers go; Host and Content-Length cannot be removed', async (t) => {
  const h: IncomingHttpHeaders = { host: 'a', connection: 'close, X-Secret, host, content-length', 'x-secret': '1', 'keep-alive': 'timeout=5', te: 'trailers', trailer: 'x', 'transfer-encoding': 'chunked', upgrade: 'h2c', 'proxy-authorization': 'Basic x', 'content-length': '3', cookie: 'c' };
  stripHopByHop(h);
  t.strictSame(h, { host: 'a', 'content-length': '3', cookie: 'c' });
});

t.test("a client's headers for the upstream: hop-by-hop, Connection-named and underscore names go, the rest keep their order", async (t) => {
  const h: IncomingHttpHeaders = {
    host: 'a', 'x-one': '1', connection: 'keep-alive, X-Secret, host', 'x-secret': 's', 'keep-alive': 'timeout=5', x_forwarded_for: '6.6.6.6',
    te: 'trailers', trailer: 'x', 'transfer-encoding': 'chunked', upgrade: 'h2c', 'proxy-connection': 'k', 'proxy-authenticate': 'p',
    'proxy-authorization': 'Basic x', 'http2-settings': 'AAA', 'content-length': '3', 'x-two': '2', cookie: 'c',
  };
  sanitiseClientHeaders(h);
  t.same(Object.entries(h), [['host', 'a'], ['x-one', '1'], ['content-length', '3'], ['x-two', '2'], ['cookie', 'c']]);
  const plain: IncomingHttpHeaders = { host: 'a', accept: '*/*' };
  sanitiseClientHeaders(plain);
  t.same(Object.entries(plain), [['host', 'a'], ['accept', '*/*']], 'nothing to drop: nothing changes');
});

t.test('untrusted peer: the forwarding fields are set after the client\'s others, whether it sent them or not', async (t) => {
  const sent: IncomingHttpHeaders = { host: 'app.test', 'x-real-ip': '1.2.3.4', accept: '*/*', 'x-forwarded-port': '1' };
  applyForwarded(sent, '198.51.100.9', trust('10.0.0.0/8'));
  const none: IncomingHttpHeaders = { host: 'app.test', accept: '*/*' };
  applyForwarded(none, '198.51.100.9', trust('10.0.0.0/8'));
  const order = ['host', 'accept', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-real-ip'];
  t.same(Object.keys(sent), order);
  t.same(Object.keys(none), order);
});

t.test('Host parsing', async (t) => {
  t.equal(hostOf('App.Test:8443'), 'app.test');
  t.equal(hostOf('app.test.'), 'app.test');
  t.equal(hostOf('[::1]:443'), '::1');
  t.equal(hostOf(undefined), undefined);
  t.equal(hostOf('a b'), null);
  t.equal(hostOf('evil.test/x'), null);
  t.equal(hostOf('user@evil.test'), null);
});

t.test('origins: RFC 6454 serialisation and wildcard patterns', async (t) => {
  t.equal(serialiseOrigin('HTTPS://App.Example.com:443'), 'https://app.example.com');
  t.equal(serialiseOrigin('https://a.example.com/path'), undefined);
  t.equal(serialiseOrigin('null'), undefined);
  const m = compileOrigins(['https://app.example.com', 'https://*.example.com', 'http://localhost:8080']);
  t.ok(m.allows('https://app.example.com'));
  t.ok(m.allows('https://APP.example.com:443'));
  t.ok(m.allows('https://a.b.example.com'));
  t.ok(m.allows('http://localhost:8080'));
  t.notOk(m.allows('https://example.com'), 'the bare domain is not a subdomain');
  t.notOk(m.allows('https://evilexample.com'));
  t.notOk(m.allows('https://example.com.evil.com'));
  t.notOk(m.allows('http://app.example.com'), 'scheme matters');
  t.notOk(m.allows('https://app.example.com:8443'), 'port matters');
  t.notOk(m.allows('https://x.example.com:8443'), 'port matters for patterns too');
  t.notOk(m.allows('http://localhost'));
  t.notOk(m.allows('null'));
});
