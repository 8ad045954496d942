import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { opensslCertId, suggestedWindow } from './helpers/ari-front.js';
import { startAcmeRelay } from './helpers/acme-relay.js';
import { startEdge } from './helpers/edge.js';
import { HOST_A, HOST_B, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';

/*
 * ACME profiles (draft-ietf-acme-profiles) and `replaces` (RFC 9773 §5) against pebble 2.4, which
 * has neither: a relay in front of it lists profiles in the directory, offers renewalInfo, and
 * records (or refuses) every newOrder payload Gatehouse signs.
 */
const skip = pebbleSkip();
const DAY = 86_400_000;
const PROFILES = { classic: 'the default', shortlived: '6-day certificates', tlsserver: 'TLS server auth only' };

t.test('tls.acme.profile goes on every new order; a renewal carries replaces, and alreadyReplaced orders again without it', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t);
  const relay = await startAcmeRelay(t, s.dir, s.pebble, PROFILES);
  // The CA puts the window of A's first certificate at now (so it renews at once), every other far away.
  let firstA: string | undefined;
  relay.ari = (id) => {
    firstA ??= id === opensslCertId(readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'), 'utf8')) ? id : undefined;
    return { status: 200, retryAfter: '3600', body: id === firstA ? suggestedWindow(Date.now() - 60_000, Date.now() + 1000) : suggestedWindow(Date.now() + 30 * DAY, Date.now() + 31 * DAY) };
  };
  let refusals = 0;
  relay.refuse = (order) => {
    if (order.replaces === undefined || refusals > 0) return undefined;
    refusals++;
    return { status: 409, type: 'urn:ietf:params:acme:error:alreadyReplaced', detail: 'that certificate was already replaced' };
  };
  const edge = await startEdge(t, s.config({ directory: relay.directory, caFile: relay.caFile, profile: 'shortlived' }));
  const acmeLogs = (): string => JSON.stringify(edge.logs.lines.filter((l) => String(l.event).startsWith('acme')));
  const first = await until(() => servedSerial(s.https, HOST_A, s.root), () => `a certificate for ${HOST_A}\n${acmeLogs()}`);
  await until(() => servedSerial(s.https, HOST_B, s.root), () => `a certificate for ${HOST_B}\n${acmeLogs()}`);
  t.same(relay.orders.slice(0, 2).map((o) => ({ host: o.identifiers[0]?.value, profile: o.profile, replaces: o.replaces })), [
    { host: HOST_A, profile: 'shortlived', replaces: undefined },
    { host: HOST_B, profile: 'shortlived', replaces: undefined },
  ], 'first orders: the profile, nothing replaced');

  // The renewal order names the certificate it replaces.
  const id = opensslCertId(readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'), 'utf8'));
  const renewed = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== first ? x : undefined)), () => `a renewal of ${HOST_A}\n${JSON.stringify(relay.orders)}\n${acmeLogs()}`, 60_000);
  t.not(renewed, first);
  t.equal(firstA, id, 'the window was moved for the certificate the renewal replaced');
  const renewals = relay.orders.slice(2);
  t.same(renewals.map((o) => ({ host: o.identifiers[0]?.value, profile: o.profile, replaces: o.replaces })), [
    { host: HOST_A, profile: 'shortlived', replaces: id },
    { host: HOST_A, profile: 'shortlived', replaces: undefined },
  ], 'the renewal named the old certificate\'s ARI CertID (as openssl reads it), was refused as alreadyReplaced, and was ordered again without it');
  const warned = edge.logs.find((l) => l.event === 'acme-already-replaced');
  t.equal(warned?.host, HOST_A);
  t.equal(warned?.replaces, id);
});

t.test('a profile the CA does not list: a clear error, and no order is sent', { skip, timeout: 60_000 }, async (t) => {
  const s = await stack(t);
  const relay = await startAcmeRelay(t, s.dir, s.pebble, PROFILES);
  const edge = await startEdge(t, s.config({ directory: relay.directory, caFile: relay.caFile, profile: 'sixday' }));
  const failed = await until(async () => edge.logs.find((l) => l.event === 'acme-failed' && l.host === HOST_A), 'an acme-failed line');
  t.equal(failed.err, `tls.acme.profile "sixday" is not offered by ${relay.directory} (it offers: classic, shortlived, tlsserver)`);
  t.same(relay.orders, [], 'no newOrder reached the CA');

  t.test('a CA without profiles (pebble 2.4 itself): the error says so', async (t) => {
    const plain = await stack(t);
    const edge2 = await startEdge(t, plain.config({ profile: 'shortlived' }));
    const line = await until(async () => edge2.logs.find((l) => l.event === 'acme-failed' && l.host === HOST_A), 'an acme-failed line');
    t.match(String(line.err), /^tls\.acme\.profile "shortlived": \S+ lists no profiles \(meta\.profiles\)/);
    t.equal(plain.pebble.orders(), 0, 'pebble saw no order');
  });
});
