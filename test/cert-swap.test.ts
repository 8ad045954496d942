import { X509Certificate } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, symlinkSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import t, { type Test } from 'tap';
import { startEdge, tempDir, type RunningEdge } from './helpers/edge.js';
import { testCerts, type TestCerts, type TestLeaf } from './helpers/certs.js';
import { openWs, roundTrip } from './helpers/ws.js';
import { startWsBackend } from './helpers/upstream.js';

type Tap = Parameters<typeof tempDir>[0];

/** The serial a fresh handshake is served (new handshakes are what a swap changes). */
async function servedSerial(port: number, servername = 'localhost', maxVersion?: 'TLSv1.2'): Promise<string> {
  const certs = await testCerts();
  return new Promise((resolve, reject) => {
    const s = tlsConnect({ host: '127.0.0.1', port, servername, ca: certs.caPem, checkServerIdentity: () => undefined, ...(maxVersion ? { maxVersion } : {}) }, () => {
      const serial = new X509Certificate(s.getPeerX509Certificate()?.raw ?? Buffer.alloc(0)).serialNumber;
      s.end();
      resolve(serial);
    });
    s.on('error', reject);
  });
}

async function waitForSerial(port: number, serial: string, timeoutMs = 10_000): Promise<number> {
  const start = performance.now();
  while (performance.now() - start < timeoutMs) {
    if ((await servedSerial(port)) === serial) return performance.now() - start;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`serial ${serial} not served within ${timeoutMs} ms`);
}

/**
 * Traffic that must survive a swap: a keep-alive HTTPS loop, a new-connection loop and an
 * open WebSocket. `stop()` reports failures; bounded by count and by time.
 */
async function traffic(t: Tap, running: RunningEdge): Promise<{ stop(): Promise<{ ok: number; failed: string[]; wsClosed: boolean }> }> {
  const certs = running.certs;
  const port = running.port;
  const keepAlive = new Agent({ keepAlive: true, maxSockets: 2, ca: certs.caPem, servername: 'localhost' });
  t.teardown(() => keepAlive.destroy());
  const ws = await openWs(port, '/', { origin: 'https://localhost' });
  let wsClosed = false;
  ws.on('close', () => { wsClosed = true; });
  let stopping = false;
  let ok = 0;
  const failed: string[] = [];
  const one = (agent: Agent | false): Promise<void> => new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path: '/', servername: 'localhost', ca: certs.caPem, agent, headers: { host: 'localhost' } }, (res) => {
      res.resume();
      res.on('end', () => { if (res.statusCode === 200) ok++; else failed.push(`status ${res.statusCode}`); resolve(); });
    });
    req.on('error', (err) => { failed.push(err.message); resolve(); });
    req.end();
  });
  const loop = async (agent: Agent | false): Promise<void> => {
    for (let i = 0; i < 5000 && !stopping; i++) await one(agent);
  };
  const loops = [loop(keepAlive), loop(false)];
  const deadline = setTimeout(() => { stopping = true; }, 30_000);
  return {
    async stop() {
      stopping = true;
      clearTimeout(deadline);
      await Promise.all(loops);
      const echoed = await roundTrip(ws, 'still here').catch(() => 'failed');
      if (echoed !== 'ws:still here') failed.push(`websocket echo: ${echoed}`);
      ws.terminate();
      return { ok, failed, wsClosed };
    },
  };
}

async function edgeOn(t: Tap, cert: string, key: string, extra = ''): Promise<RunningEdge> {
  const backend = await startWsBackend(t);
  return startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  watch: { settle: 100ms, recheck: 1h }
  certificates: [{ cert: "${cert}", key: "${key}" }]
upstreams: { app: { targets: ["${backend.address}"] } }
sites: [{ hosts: [localhost, app.test], routes: [{ path: /, upstream: app }] }]
${extra}`);
}

/** An edge serving a copy of `leaf` from a fresh folder (cert.pem, key.pem) that tests can rewrite. */
async function edgeOnCopy(t: Tap, leaf: TestLeaf): Promise<{ dir: string; cert: string; key: string; running: RunningEdge }> {
  const dir = tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  copyFileSync(leaf.cert, cert);
  copyFileSync(leaf.key, key);
  return { dir, cert, key, running: await edgeOn(t, cert, key) };
}

/** Assert a swap to `next` happened under traffic with nothing dropped; returns how long it took. */
async function swapUnderLoad(t: Test, running: RunningEdge, next: TestLeaf, swap: () => void, name: string): Promise<void> {
  const load = await traffic(t, running);
  await new Promise((r) => setTimeout(r, 150));
  swap();
  const took = await waitForSerial(running.port, next.serial);
  await new Promise((r) => setTimeout(r, 150));
  const result = await load.stop();
  t.strictSame(result.failed, [], `${name}: no failed requests`);
  t.equal(result.wsClosed, false, `${name}: the open WebSocket was not closed`);
  t.ok(result.ok > 0, `${name}: ${result.ok} requests succeeded during the swap`);
  t.comment(`${name}: new certificate served ${took.toFixed(0)} ms after the change`);
}

function certbotLayout(dir: string, certs: TestCerts): { live: string; archive: string; renew(leaf: TestLeaf, n: number): void } {
  const archive = join(dir, 'archive', 'example');
  const live = join(dir, 'live', 'example');
  mkdirSync(archive, { recursive: true });
  mkdirSync(live, { recursive: true });
  const write = (leaf: TestLeaf, n: number): void => {
    copyFileSync(leaf.key, join(archive, `privkey${n}.pem`));
    copyFileSync(leaf.leafOnly, join(archive, `cert${n}.pem`));
    copyFileSync(certs.ca.cert, join(archive, `chain${n}.pem`));
    copyFileSync(leaf.cert, join(archive, `fullchain${n}.pem`));
  };
  const link = (n: number): void => {
    // certbot's order: unlink + symlink per file, one at a time (not atomic renames).
    for (const kind of ['cert', 'privkey', 'chain', 'fullchain']) {
      const at = join(live, `${kind}.pem`);
      rmSync(at, { force: true });
      symlinkSync(join('..', '..', 'archive', 'example', `${kind}${n}.pem`), at);
    }
  };
  write(certs.a, 1);
  link(1);
  return { live, archive, renew(leaf, n) { write(leaf, n); link(n); } };
}

t.test('certbot renew: live/ symlinks repointed one at a time', async (t) => {
  const certs = await testCerts();
  const layout = certbotLayout(tempDir(t), certs);
  const running = await edgeOn(t, join(layout.live, 'fullchain.pem'), join(layout.live, 'privkey.pem'));
  t.equal(await servedSerial(running.port), certs.a.serial);
  await swapUnderLoad(t, running, certs.a2, () => layout.renew(certs.a2, 2), 'certbot');
  await new Promise((r) => setTimeout(r, 100));
  const swap = running.logs.find((l) => l.event === 'cert-swap');
  t.match(swap, { old: { serial: certs.a.serial }, new: { serial: certs.a2.serial } }, 'the swap is logged old → new');
  t.type((swap?.new as { notAfter?: unknown } | undefined)?.notAfter, 'string');
  await t.rejects(servedSerial(running.port, 'localhost', 'TLSv1.2'), 'the swap did not bring TLS 1.2 back');
  t.equal(await servedSerial(running.port, 'app.test'), certs.a2.serial, 'SNI gets the new certificate too');
});

t.test('Kubernetes secret volume: the ..data symlink is renamed over', async (t) => {
  const certs = await testCerts();
  const dir = join(tempDir(t), 'tls');
  mkdirSync(dir);
  const version = (leaf: TestLeaf, name: string): void => {
    mkdirSync(join(dir, name));
    copyFileSync(leaf.cert, join(dir, name, 'tls.crt'));
    copyFileSync(leaf.key, join(dir, name, 'tls.key'));
  };
  version(certs.a, '..2026_11_22_08_00_00.1');
  symlinkSync('..2026_11_22_08_00_00.1', join(dir, '..data'));
  symlinkSync(join('..data', 'tls.crt'), join(dir, 'tls.crt'));
  symlinkSync(join('..data', 'tls.key'), join(dir, 'tls.key'));
  const running = await edgeOn(t, join(dir, 'tls.crt'), join(dir, 'tls.key'));
  t.equal(await servedSerial(running.port), certs.a.serial);
  await swapUnderLoad(t, running, certs.a2, () => {
    version(certs.a2, '..2026_11_22_09_00_00.2');
    symlinkSync('..2026_11_22_09_00_00.2', join(dir, '..data_tmp'));
    renameSync(join(dir, '..data_tmp'), join(dir, '..data')); // the one atomic switch
    rmSync(join(dir, '..2026_11_22_08_00_00.1'), { recursive: true });
  }, 'kubelet');
});

t.test('write to a temp file, then rename over (cp + mv)', async (t) => {
  const certs = await testCerts();
  const { dir, running } = await edgeOnCopy(t, certs.a);
  await swapUnderLoad(t, running, certs.a2, () => {
    copyFileSync(certs.a2.key, join(dir, '.key.tmp'));
    copyFileSync(certs.a2.cert, join(dir, '.cert.tmp'));
    renameSync(join(dir, '.key.tmp'), join(dir, 'key.pem'));
    renameSync(join(dir, '.cert.tmp'), join(dir, 'cert.pem'));
  }, 'rename');
});

t.test('in-place rewrite keeping the old mtime is still noticed (content decides)', async (t) => {
  const certs = await testCerts();
  const { dir, running } = await edgeOnCopy(t, certs.a);
  const before = statSync(join(dir, 'cert.pem'));
  await swapUnderLoad(t, running, certs.a2, () => {
    writeFileSync(join(dir, 'key.pem'), readFileSync(certs.a2.key));
    writeFileSync(join(dir, 'cert.pem'), readFileSync(certs.a2.cert));
    utimesSync(join(dir, 'cert.pem'), before.atime, before.mtime);
    utimesSync(join(dir, 'key.pem'), before.atime, before.mtime);
  }, 'in-place');
});

t.test('files deleted, then the folder deleted and made again', async (t) => {
  const certs = await testCerts();
  const root = tempDir(t);
  const dir = join(root, 'certs');
  mkdirSync(dir);
  copyFileSync(certs.a.cert, join(dir, 'cert.pem'));
  copyFileSync(certs.a.key, join(dir, 'key.pem'));
  const running = await edgeOn(t, join(dir, 'cert.pem'), join(dir, 'key.pem'));
  unlinkSync(join(dir, 'cert.pem'));
  unlinkSync(join(dir, 'key.pem'));
  await new Promise((r) => setTimeout(r, 400));
  t.equal(await servedSerial(running.port), certs.a.serial, 'missing files: the old pair keeps serving');
  await swapUnderLoad(t, running, certs.a2, () => {
    rmSync(dir, { recursive: true });
    mkdirSync(dir);
    copyFileSync(certs.a2.cert, join(dir, 'cert.pem'));
    copyFileSync(certs.a2.key, join(dir, 'key.pem'));
  }, 'recreated folder');
});

t.test('bad pairs keep the old one serving with one clear error each; a later good pair swaps in', async (t) => {
  const certs = await testCerts();
  const { cert, key, running } = await edgeOnCopy(t, certs.a);
  const bad: [string, () => void, RegExp][] = [
    ['half-written', () => copyFileSync(certs.truncated, cert), /not a PEM certificate/],
    ['empty', () => writeFileSync(cert, ''), /file is empty/],
    ['half-written leaf', () => writeFileSync(cert, readFileSync(certs.a2.cert, 'utf8').slice(0, 300)), /not a PEM certificate/],
    ['mismatched', () => { copyFileSync(certs.a2.cert, cert); copyFileSync(certs.a.key, key); }, /does not match/],
    ['expired', () => { copyFileSync(certs.expired.cert, cert); copyFileSync(certs.expired.key, key); }, /expired/],
    ['garbage key', () => { copyFileSync(certs.a.cert, cert); copyFileSync(certs.garbage, key); }, /not a PEM private key/],
  ];
  for (const [name, write, reason] of bad) {
    const before = running.logs.lines.length;
    write();
    let seen: Record<string, unknown> | undefined;
    for (let i = 0; i < 100 && seen === undefined; i++) {
      await new Promise((r) => setTimeout(r, 20));
      seen = running.logs.lines.slice(before).find((l) => l.event === 'cert-reload');
    }
    t.match(seen, { err: reason, cert }, `${name}: logged with path and reason`);
    t.equal(await servedSerial(running.port), certs.a.serial, `${name}: the old certificate still serves`);
  }
  const load = await traffic(t, running);
  copyFileSync(certs.a2.key, key);
  copyFileSync(certs.a2.cert, cert);
  await waitForSerial(running.port, certs.a2.serial);
  const result = await load.stop();
  t.strictSame(result.failed, []);
  const metrics = await running.edge.metrics.registry.getSingleMetricAsString('gatehouse_certificate_last_reload_success');
  t.match(metrics, new RegExp(`cert="${cert.replaceAll('/', '\\/')}"\\} 1`), 'metric says the last reload succeeded');
});

t.test('a storm of changes ends in one swap to the last good state', async (t) => {
  const certs = await testCerts();
  const { cert, key, running } = await edgeOnCopy(t, certs.a);
  for (let i = 0; i < 30; i++) {
    const leaf = i % 2 === 0 ? certs.a2 : certs.a;
    copyFileSync(leaf.key, key);
    copyFileSync(leaf.cert, cert);
  }
  copyFileSync(certs.a2.key, key);
  copyFileSync(certs.a2.cert, cert);
  await waitForSerial(running.port, certs.a2.serial);
  await new Promise((r) => setTimeout(r, 400));
  const swaps = running.logs.lines.filter((l) => l.event === 'cert-swap');
  t.equal(swaps.length, 1, 'one swap');
  t.equal(await servedSerial(running.port), certs.a2.serial);
});

t.test('a missed event is caught by the periodic re-check', async (t) => {
  const certs = await testCerts();
  const dir = tempDir(t);
  const cert = join(dir, 'cert.pem');
  const key = join(dir, 'key.pem');
  copyFileSync(certs.a.cert, cert);
  copyFileSync(certs.a.key, key);
  // Events only settle after an hour here, so within the test only the 1 s re-check can notice.
  const slowEvents = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:0" }
tls:
  watch: { settle: 1h, recheck: 1s }
  certificates: [{ cert: "${cert}", key: "${key}" }]
upstreams: { app: { targets: ["127.0.0.1:9"] } }
sites: [{ hosts: [localhost], routes: [{ path: /, upstream: app }] }]
`);
  copyFileSync(certs.a2.key, key);
  copyFileSync(certs.a2.cert, cert);
  await waitForSerial(slowEvents.port, certs.a2.serial, 5000);
  t.match(slowEvents.logs.find((l) => l.event === 'cert-swap'), { trigger: 'recheck' });
});
