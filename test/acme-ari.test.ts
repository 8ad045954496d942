import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { opensslCertId, startAriFront, suggestedWindow } from './helpers/ari-front.js';
import { startEdge } from './helpers/edge.js';
import { fetchText } from './helpers/net.js';
import { HOST_A, keptAliveGet, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';
import { CLI } from './helpers/process.js';

/*
 * The ARI path (RFC 9773) end to end: pebble 2.4 issues, and has no renewalInfo, so a loopback
 * "ARI front" serves pebble's directory with a renewalInfo URL added and answers it as the test says.
 */
const skip = pebbleSkip();
const run = promisify(execFile);
const DAY = 86_400_000;

t.test('renewal follows the CA\'s ARI window, not the one-third rule; a window moved to now renews without dropping a connection', { skip, timeout: 240_000 }, async (t) => {
  // The keep-alive connection idles for over a minute. 75 s certificates: the one-third rule would renew at 50 s; ARI's Retry-After re-poll comes at 60 s at the earliest.
  const s = await stack(t, 75);
  const far = { start: Date.now() + 30 * DAY, end: Date.now() + 31 * DAY };
  const moved = new Set<string>(); // certIDs whose window the test moves to now
  const front = await startAriFront(t, s.dir, s.pebble, (id) => ({
    status: 200, retryAfter: '1',
    body: moved.has(id) ? suggestedWindow(Date.now() - 60_000, Date.now() + 2000) : suggestedWindow(far.start, far.end),
  }));
  const edge = await startEdge(t, s.config({ admin: true, directory: front.directory, caFile: front.caFile, extra: 'timeouts: { idle: 5m }' }));
  const acmeLogs = (): string => JSON.stringify(edge.logs.lines.filter((l) => String(l.event).startsWith('acme')));
  const first = await until(() => servedSerial(s.https, HOST_A, s.root), () => `a certificate for ${HOST_A}\n${acmeLogs()}`);
  const pem = readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'), 'utf8');
  const x509 = new X509Certificate(pem);
  t.equal(x509.serialNumber, first, 'the served certificate is the stored one');
  const id = opensslCertId(pem);

  // (a) renewalInfo is asked with the certificate's RFC 9773 §4.1 CertID.
  await until(async () => (front.asked.includes(id) ? true : undefined), () => `renewalInfo for ${id}; asked ${JSON.stringify(front.asked)}\n${acmeLogs()}`);
  const planned = await until(async () => edge.logs.find((l) => l.event === 'acme-ari' && l.host === HOST_A), 'the acme-ari plan');
  t.same(planned.window, { start: new Date(far.start).toISOString(), end: new Date(far.end).toISOString() }, 'the window the front suggested');
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: s.root });
  t.teardown(() => agent.destroy());
  t.equal((await keptAliveGet(agent, s.https)).status, 200, 'a keep-alive connection opened on the first certificate');

  // (b) Past the one-third point, before the earliest re-poll: no renewal.
  const oneThirdLeft = Date.parse(x509.validTo) - (Date.parse(x509.validTo) - Date.parse(x509.validFrom)) / 3;
  await new Promise((r) => setTimeout(r, Math.max(0, oneThirdLeft + 2000 - Date.now())));
  t.equal(s.pebble.orders(), 2, 'no new order at pebble past the one-third point (one order per host)');
  t.equal(await servedSerial(s.https, HOST_A, s.root), first, 'the first certificate still serves');
  t.equal(front.asked.filter((a) => a === id).length, 1, 'asked once: Retry-After 1 s is taken as one minute (RFC 9773 §4.3.3)');
  const inside = (ms: number): boolean => ms >= far.start - 1000 && ms <= far.end + 1000;
  const metrics = (await fetchText(`http://127.0.0.1:${String(edge.addresses.admin?.port)}/metrics`)).body;
  const next = Number(new RegExp(`gatehouse_acme_next_renewal_timestamp_seconds\\{host="${HOST_A}"\\} (\\d+)`).exec(metrics)?.[1]) * 1000;
  t.ok(inside(next), `metrics: the next renewal ${new Date(next).toISOString()} is inside the window`);
  const { stdout } = await run(process.execPath, [CLI, 'check', '--config', join(edge.dir, 'gatehouse.yaml')]);
  const renews = Date.parse(new RegExp(`acme ${HOST_A}: certificate ${first} valid until \\S+; renews (\\S+);`).exec(stdout)?.[1] ?? '');
  t.ok(inside(renews), `check: renews ${new Date(renews).toISOString()}, inside the window${inside(renews) ? '' : `\n${stdout}`}`);

  // (c) The CA moves the window to now: the re-poll after Retry-After renews.
  moved.add(id);
  const renewed = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== first ? x : undefined)), () => `a renewal after the window moved\n${acmeLogs()}`, 90_000);
  t.equal(front.asked.filter((a) => a === id).length, 2, 'the renewal followed the second renewalInfo answer');
  t.equal(s.pebble.orders(), 3, 'one new order, for the host whose window moved');
  t.same(await keptAliveGet(agent, s.https), { status: 200, reused: true }, 'the connection opened before the renewal still serves requests');
  const newId = opensslCertId(readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'), 'utf8'));
  await until(async () => (front.asked.includes(newId) ? true : undefined), 'renewalInfo asked for the new certificate');
  t.not(renewed, first);
});

t.test('renewalInfo failing (500, then unreachable): logged as acme-ari, and renewal falls back to the one-third rule', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t, 15);
  const front = await startAriFront(t, s.dir, s.pebble, () => ({ status: 500, body: { type: 'urn:ietf:params:acme:error:serverInternal' } }));
  const edge = await startEdge(t, s.config({ directory: front.directory, caFile: front.caFile }));
  const acmeLogs = (): string => JSON.stringify(edge.logs.lines.filter((l) => String(l.event).startsWith('acme')));
  const warnings = (): Record<string, unknown>[] => edge.logs.lines.filter((l) => l.event === 'acme-ari' && l.host === HOST_A);
  const first = await until(() => servedSerial(s.https, HOST_A, s.root), () => `a certificate for ${HOST_A}\n${acmeLogs()}`);
  const refused = await until(async () => warnings()[0], () => `an acme-ari line\n${acmeLogs()}`);
  t.equal(refused.level, 40, 'a warning');
  t.match(String(refused.err), /HTTP 500/, 'saying what the CA answered');
  front.answer = () => ({ status: 0 });
  const second = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== first ? x : undefined)), () => `a renewal by the one-third rule\n${acmeLogs()}`, 20_000);
  const cut = await until(async () => warnings()[1], () => `a second acme-ari line\n${acmeLogs()}`);
  t.match(String(cut.err), /socket hang up|ECONNRESET/, 'an unreachable renewalInfo is logged too');
  const third = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== second ? x : undefined)), () => `a second renewal by the one-third rule\n${acmeLogs()}`, 20_000);
  t.not(third, first);
});

t.test('a window that opens after the certificate expires: renewed at expiry, renewalInfo not asked in a loop', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t, 10);
  const far = Date.now() + 30 * DAY;
  const front = await startAriFront(t, s.dir, s.pebble, () => ({ status: 200, retryAfter: '3600', body: suggestedWindow(far, far + DAY) }));
  const edge = await startEdge(t, s.config({ directory: front.directory, caFile: front.caFile }));
  const acmeLogs = (): string => JSON.stringify(edge.logs.lines.filter((l) => String(l.event).startsWith('acme')));
  const first = await until(() => servedSerial(s.https, HOST_A, s.root), () => `a certificate for ${HOST_A}\n${acmeLogs()}`);
  const id = opensslCertId(readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'), 'utf8'));
  const renewed = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== first ? x : undefined)), () => `a renewal at expiry; renewalInfo asked ${front.asked.filter((a) => a === id).length} times\n${acmeLogs()}`, 25_000);
  t.not(renewed, first);
  t.ok(front.asked.filter((a) => a === id).length <= 2, `renewalInfo for the expired certificate asked ${front.asked.filter((a) => a === id).length} time(s), not in a loop`);
});
