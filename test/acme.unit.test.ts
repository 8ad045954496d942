import { execFile } from 'node:child_process';
import { readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { ariCertId, parseRenewalInfo } from '../src/tls/acme/ari.js';
import { backoffMs, inWindow, parseState, thirdLeft } from '../src/tls/acme/state.js';
import { AcmeStorage } from '../src/tls/acme/storage.js';
import { httpChallengeResponder } from '../src/tls/acme/responders.js';
import { opensslCertId } from './helpers/ari-front.js';
import { testCerts } from './helpers/certs.js';
import { tempDir } from './helpers/edge.js';
import { CLI } from './helpers/process.js';

const run = promisify(execFile);

t.test('the ARI CertID is base64url(AKI keyIdentifier) "." base64url(serial), as openssl reads them (RFC 9773 §4.1)', async (t) => {
  const certs = await testCerts();
  const pem = readFileSync(certs.a.cert, 'utf8');
  t.equal(ariCertId(pem), opensslCertId(pem));
  t.equal(ariCertId(readFileSync(certs.ca.cert)), ariCertId(readFileSync(certs.ca.cert)), 'stable');
});

t.test('a renewalInfo answer becomes a window; a random time inside it is chosen, never in the past', async (t) => {
  const now = Date.parse('2026-01-01T00:00:00Z');
  const body = { suggestedWindow: { start: '2026-01-10T00:00:00Z', end: '2026-01-12T00:00:00Z' } };
  const w = parseRenewalInfo({ status: 200, retryAfter: '21600', body }, now);
  t.same(w, { start: Date.parse('2026-01-10T00:00:00Z'), end: Date.parse('2026-01-12T00:00:00Z'), recheckAt: now + 21_600_000 });
  t.equal(parseRenewalInfo({ status: 404, retryAfter: undefined, body }, now), undefined, 'no ARI for this certificate');
  t.equal(parseRenewalInfo({ status: 200, retryAfter: undefined, body: { suggestedWindow: { start: 'x', end: 'y' } } }, now), undefined, 'garbage is no window');
  t.equal(inWindow(10, 20, 0, 0), 10);
  t.equal(inWindow(10, 20, 0, 0.5), 15);
  t.equal(inWindow(10, 20, 15, 0), 15, 'a window already open starts now');
  t.equal(inWindow(10, 20, 30, 0.5), 30, 'a window passed means now');
});

t.test('backoff is 1 min doubling to 1 day; without ARI renewal comes with a third of the life left', async (t) => {
  t.same([1, 2, 3, 4, 11, 12, 50].map(backoffMs), [60_000, 120_000, 240_000, 480_000, 61_440_000, 86_400_000, 86_400_000]);
  t.equal(thirdLeft(0, 90), 60);
  t.same(parseState('not json'), {}, 'a broken state file starts afresh');
  t.equal(parseState('{"a.example":{"failures":2,"nextAttempt":5}}')['a.example']?.failures, 2);
});

t.test('the storage lock: one holder; a live lock is respected, a stale one is broken', async (t) => {
  const dir = tempDir(t, 'gatehouse-lock-');
  const a = new AcmeStorage(dir);
  const b = new AcmeStorage(dir);
  const release = await a.lock(60_000);
  t.ok(release, 'the first instance takes it');
  t.equal(await b.lock(60_000), undefined, 'the second waits');
  await release?.();
  const again = await b.lock(60_000);
  t.ok(again, 'free again after release');
  const old = new Date(Date.now() - 120_000);
  utimesSync(join(dir, 'lock'), old, old); // its holder died two minutes ago
  const taken = await a.lock(60_000);
  t.ok(taken, 'a stale lock is broken');
  await again?.(); // the old holder's release must not remove the new holder's lock
  t.equal(await b.lock(60_000), undefined, 'and the dead holder cannot release the new one');
  await taken?.();
});

t.test('HTTP-01 tokens are read only by their base64url name from storage', async (t) => {
  const dir = tempDir(t, 'gatehouse-token-');
  const storage = new AcmeStorage(dir);
  await storage.prepare([]);
  await storage.write(storage.httpTokenPath('tok_1-A'), 'tok_1-A.thumb');
  writeFileSync(join(dir, 'secret'), 'nope');
  const answer = httpChallengeResponder(storage);
  t.equal((await answer('tok_1-A'))?.toString(), 'tok_1-A.thumb');
  t.equal(await answer('missing'), undefined);
  t.equal(await answer('../../secret'), undefined, 'no path climbing');
  t.equal(await answer('..'), undefined);
});

t.test('check refuses http-01 without listen.http, at FILE:LINE:COL', async (t) => {
  const dir = tempDir(t, 'gatehouse-acme-check-');
  const file = join(dir, 'gatehouse.yaml');
  writeFileSync(file, 'listen: { http: false }\ntls:\n  acme: { storage: acme, challenge: http-01 }\nupstreams: { app: { targets: [127.0.0.1:3000] } }\nsites: [{ hosts: [app.example.com], routes: [{ path: /, upstream: app }] }]\n');
  const failed = await run(process.execPath, [CLI, 'check', '--config', file]).then(() => undefined, (err: { code: number; stdout: string }) => err);
  t.equal(failed?.code, 1, 'exit 1');
  t.match(failed?.stdout ?? '', `${file}:3:37 http-01 is answered on listen.http, which is disabled`);
});
