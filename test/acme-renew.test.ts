import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent } from 'node:https';
import { join } from 'node:path';
import { promisify } from 'node:util';
import t from 'tap';
import { startEdge } from './helpers/edge.js';
import { HOST_A, keptAliveGet, pebbleSkip, servedSerial, stack, until } from './helpers/pebble.js';
import { fetchText } from './helpers/net.js';
import { CLI } from './helpers/process.js';

/*
 * Renewal against a real CA: pebble issuing certificates that live for seconds, so the
 * "a third of the lifetime left" rule fires inside the test, and a CA that goes away.
 */
const skip = pebbleSkip();
const run = promisify(execFile);

t.test('a short-lived certificate is renewed when a third of its life is left, and an open connection survives the swap', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t, 15);
  const edge = await startEdge(t, s.config());
  const first = await until(() => servedSerial(s.https, HOST_A, s.root), `a certificate for ${HOST_A}`);
  const agent = new Agent({ keepAlive: true, maxSockets: 1, ca: s.root });
  t.teardown(() => agent.destroy());
  t.equal((await keptAliveGet(agent, s.https)).status, 200, 'a keep-alive connection opened on the first certificate');
  const renewed = await until(() => servedSerial(s.https, HOST_A, s.root).then((x) => (x !== first ? x : undefined)), () => `a renewed certificate\n${JSON.stringify(edge.logs.lines.filter((l) => String(l.event).startsWith('acme')))}`, 20_000);
  t.equal(new X509Certificate(readFileSync(join(s.storage, 'certs', HOST_A, 'fullchain.pem'))).serialNumber, renewed, 'the renewal was written into storage');
  const again = await keptAliveGet(agent, s.https);
  t.same(again, { status: 200, reused: true }, 'the connection opened before the renewal still serves requests');
  t.ok(edge.logs.find((l) => l.event === 'cert-swap' && (l.new as { serial?: string } | undefined)?.serial === renewed), 'the swap went through the certificate watcher');
  const state = JSON.parse(readFileSync(join(s.storage, 'state.json'), 'utf8')) as Record<string, { orders: number; failures: number }>;
  t.ok((state[HOST_A]?.orders ?? 0) >= 2, 'state.json counts the renewal order');
});

t.test('with the CA gone, the stored certificate keeps serving and the next attempt backs off a minute', { skip, timeout: 120_000 }, async (t) => {
  const s = await stack(t, 9);
  const edge = await startEdge(t, s.config({ admin: true }));
  const serial = await until(() => servedSerial(s.https, HOST_A, s.root), `a certificate for ${HOST_A}`);
  await until(async () => (edge.logs.find((l) => l.event === 'acme-issued' && l.host !== HOST_A) ? true : undefined), 'the second host');
  await s.pebble.stop();
  const failed = await until(async () => edge.logs.find((l) => l.event === 'acme-failed' && l.host === HOST_A), 'a failed renewal', 20_000);
  t.match(String(failed.err), /ECONNREFUSED/, 'the failure says why');
  t.equal(await servedSerial(s.https, HOST_A, s.root), serial, 'the stored certificate keeps serving');
  // The log line comes first; state.json is written right after it.
  const a = await until(async () => {
    const state = JSON.parse(readFileSync(join(s.storage, 'state.json'), 'utf8')) as Record<string, { failures: number; nextAttempt: number; lastAttempt: number }>;
    return state[HOST_A]?.failures === 1 ? state[HOST_A] : undefined;
  }, 'the failure in state.json', 5000);
  t.equal(a.failures, 1);
  const wait = a.nextAttempt - a.lastAttempt;
  t.ok(wait >= 55_000 && wait <= 65_000, `next attempt about a minute later (${wait} ms)`);
  await new Promise((r) => setTimeout(r, 2000));
  t.equal(edge.logs.lines.filter((l) => l.event === 'acme-failed' && l.host === HOST_A).length, 1, 'no retry before the backoff is over');

  const metrics = (await fetchText(`http://127.0.0.1:${String(edge.addresses.admin?.port)}/metrics`)).body;
  t.match(metrics, new RegExp(`gatehouse_acme_failures_total\\{host="${HOST_A}"\\} 1\\n`), 'failures counted in metrics');
  t.match(metrics, new RegExp(`gatehouse_acme_next_renewal_timestamp_seconds\\{host="${HOST_A}"\\} ${Math.round(a.nextAttempt / 1000)}\\n`), 'the next attempt in metrics');
  t.match(metrics, new RegExp(`gatehouse_acme_last_success_timestamp_seconds\\{host="${HOST_A}"\\} \\d+`), 'the last success in metrics');

  const { stdout } = await run(process.execPath, [CLI, 'check', '--config', join(edge.dir, 'gatehouse.yaml')]);
  t.match(stdout, new RegExp(`acme ${HOST_A}: certificate ${serial} valid until .*1 failed attempt\\(s\\), last: .*ECONNREFUSED.*; next attempt 20`), 'check shows the state and the next attempt');
});
