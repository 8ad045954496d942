import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import WebSocket from 'ws';
import { startEdge, tempDir } from './helpers/edge.js';
import { testCerts } from './helpers/certs.js';
import { deadPort } from './helpers/net.js';
import { hasCommand, skipWithout } from './helpers/tools.js';
import { fixed, startUpstream } from './helpers/upstream.js';
import { within } from './helpers/wait.js';

/*
 * The seed articles' scenario with a real browser: Debian's headless Chromium, trusting the test
 * CA through an NSS database, loads a page through Gatehouse, opens wss:// and echoes; a page
 * from a disallowed origin is refused; and after one HTTPS visit, a ws:// URL to the same host is
 * upgraded by the browser's HSTS and still works (the same ws:// fails in a fresh profile).
 * Page and WebSocket go over HTTP/2 (RFC 8441 extended CONNECT), as Chromium does by default.
 */
// Debian's name first; under CI a missing browser runs the test, whose spawn of `chromium` fails.
const CHROMIUM = ['chromium', 'chromium-browser'].find(hasCommand);
const SKIP = skipWithout(CHROMIUM !== undefined && hasCommand('certutil'), 'chromium or certutil not installed');

/** Minimal Chrome DevTools Protocol client over `ws`. */
class Cdp {
  #id = 0;
  readonly #pending = new Map<number, (v: { result?: unknown; error?: unknown }) => void>();
  constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as { id?: number; result?: unknown; error?: unknown };
      if (msg.id !== undefined) this.#pending.get(msg.id)?.(msg);
    });
  }
  async send(method: string, params: object = {}, sessionId?: string): Promise<Record<string, unknown>> {
    const id = ++this.#id;
    const reply = new Promise<{ result?: unknown; error?: unknown }>((resolve) => this.#pending.set(id, resolve));
    this.ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    const msg = await reply;
    if (msg.error !== undefined) throw new Error(`${method}: ${JSON.stringify(msg.error)}`);
    return msg.result as Record<string, unknown>;
  }
}

async function launch(t: Parameters<typeof tempDir>[0], profile: string, hosts: string[]): Promise<{ cdp: Cdp; child: ChildProcess; close(): Promise<void> }> {
  const child = spawn(CHROMIUM ?? 'chromium', [
    '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-extensions', `--user-data-dir=${join(profile, 'chrome')}`,
    `--host-resolver-rules=${hosts.map((h) => `MAP ${h} 127.0.0.1`).join(', ')}`, '--remote-debugging-port=0', 'about:blank',
  ], { env: { ...process.env, HOME: profile }, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  let err = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /DevTools listening on (ws:\/\/\S+)/.exec(err);
      if (m?.[1]) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`chromium exited: ${err}`)));
    setTimeout(() => reject(new Error(`chromium did not start: ${err}`)), 30_000).unref();
  });
  const ws = new WebSocket(url, { perMessageDeflate: false });
  await within(5_000, once(ws, 'open'), 'ws to open');
  const close = async (): Promise<void> => {
    ws.terminate();
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  };
  t.teardown(close);
  return { cdp: new Cdp(ws), child, close };
}

/** Open a tab at `url` and evaluate `expression` (a promise) in it. */
async function evaluateAt(cdp: Cdp, url: string, expression: string): Promise<unknown> {
  const { targetId } = await cdp.send('Target.createTarget', { url: 'about:blank' }) as { targetId: string };
  const { sessionId } = await cdp.send('Target.attachToTarget', { targetId, flatten: true }) as { sessionId: string };
  await cdp.send('Page.enable', {}, sessionId);
  await cdp.send('Page.navigate', { url }, sessionId);
  for (let i = 0; i < 100; i++) {
    const state = await cdp.send('Runtime.evaluate', { expression: 'document.readyState + " " + location.href', returnByValue: true }, sessionId) as { result: { value: string } };
    if (state.result.value.startsWith('complete') && !state.result.value.includes('about:blank')) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  const r = await cdp.send('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true }, sessionId) as { result: { value: unknown } };
  await cdp.send('Target.closeTarget', { targetId });
  return r.result.value;
}

/** The page script: open a WebSocket, send "hi", resolve with the echo or the failure. */
const tryWs = (url: string): string => `new Promise((resolve) => {
  let ws;
  try { ws = new WebSocket(${JSON.stringify(url)}); } catch (e) { resolve('threw ' + e.name); return; }
  ws.onopen = () => ws.send('hi');
  ws.onmessage = (m) => { resolve('echo ' + m.data + ' via ' + ws.url); ws.close(); };
  ws.onclose = (e) => resolve('closed ' + e.code);
  setTimeout(() => resolve('timeout'), 5000);
})`;

t.test('Chromium through Gatehouse: wss echo, Origin refusal, and HSTS upgrading ws://', { skip: SKIP, timeout: 120_000 }, async (t) => {
  const certs = await testCerts();
  const page = (title: string) => `<!doctype html><title>${title}</title><p>${title}</p>`;
  const html = { 'content-type': 'text/html' };
  const app = await startUpstream(t, { name: 'app', ws: 'echo', answer: fixed(200, page('app'), html) });
  // A plain-HTTP page elsewhere (not through Gatehouse): its ws:// URL is what HSTS must upgrade.
  const plain = await startUpstream(t, { answer: fixed(200, page('plain'), html) });
  const plainOrigin = `http://${plain.address}`;

  const port = await deadPort();
  const appAddress = app.address;
  const running = await startEdge(t, `
listen: { http: false, https: "127.0.0.1:${port}" }
tls: { certificates: [{ cert: "{{cert}}", key: "{{key}}" }] }
upstreams: { app: { targets: ["${appAddress}"] } }
sites:
  - hosts: [app.test]
    routes: [{ path: /, upstream: app, websocket: { origins: ["https://app.test:${port}", "${plainOrigin}"] } }]
  - hosts: [x.wild.test]
    routes: [{ path: /, upstream: app }]
`);

  const profile = tempDir(t, 'gatehouse-chromium-');
  mkdirSync(join(profile, '.pki', 'nssdb'), { recursive: true });
  const nss = `sql:${join(profile, '.pki', 'nssdb')}`;
  spawnSync('certutil', ['-N', '-d', nss, '--empty-password']);
  const added = spawnSync('certutil', ['-A', '-d', nss, '-t', 'C,,', '-n', 'gatehouse-test-ca', '-i', certs.ca.cert], { encoding: 'utf8' });
  t.equal(added.status, 0, `test CA added to the NSS database ${added.stderr}`);

  // Control first: a fresh profile knows no HSTS for app.test, so ws:// to the TLS port fails.
  const fresh = tempDir(t, 'gatehouse-chromium-fresh-');
  mkdirSync(join(fresh, '.pki'), { recursive: true });
  spawnSync('cp', ['-r', join(profile, '.pki', 'nssdb'), join(fresh, '.pki', 'nssdb')]);
  const control = await launch(t, fresh, ['app.test', 'x.wild.test']);
  const before = await evaluateAt(control.cdp, `${plainOrigin}/`, tryWs(`ws://app.test:${port}/ws`));
  t.notMatch(String(before), /^echo/, `without HSTS, ws:// to the TLS port does not work (${String(before)})`);
  t.notOk(running.logs.lines.some((l) => String(l.event ?? '').startsWith('websocket')), 'without HSTS the ws:// attempt never reached Gatehouse as a WebSocket handshake');
  await control.close();

  const browser = await launch(t, profile, ['app.test', 'x.wild.test']);
  const { cdp } = browser;
  const echoed = await evaluateAt(cdp, `https://app.test:${port}/`, tryWs(`wss://app.test:${port}/ws`));
  t.equal(echoed, `echo app:hi via wss://app.test:${port}/ws`, 'a page served through Gatehouse opens wss:// and echoes');
  // HTTP/2 end to end (DESIGN 16): the page came over h2, and the WebSocket rode an RFC 8441
  // extended CONNECT stream (the server side says so: these lines come from the h2 front door).
  t.ok(running.logs.find((l) => l.msg === 'request' && l.path === '/' && l.protocol === 'h2'), 'Chromium loaded the page over h2');
  t.ok(running.logs.find((l) => l.event === 'websocket-open' && l.protocol === 'h2'), 'the WebSocket arrived as an extended CONNECT stream');

  const refused = await evaluateAt(cdp, `https://x.wild.test:${port}/`, tryWs(`wss://app.test:${port}/ws`));
  t.equal(refused, 'closed 1006', 'a page from a disallowed origin is refused');
  await new Promise((r) => setTimeout(r, 100));
  t.ok(running.logs.find((l) => l.event === 'websocket-refused' && l.origin === `https://x.wild.test:${port}`), 'the refusal is logged with the origin');

  // After that HTTPS visit the browser holds app.test's HSTS policy.
  const navigated = await evaluateAt(cdp, `http://app.test:${port}/`, 'Promise.resolve(location.href)');
  t.equal(navigated, `https://app.test:${port}/`, 'HSTS: http://app.test is upgraded before any request leaves the browser');

  // Chromium 156, checked here: from an https page a ws:// URL is mixed content and throws, HSTS or not.
  const mixed = await evaluateAt(cdp, `https://app.test:${port}/`, tryWs(`ws://app.test:${port}/ws`));
  t.equal(mixed, 'threw SecurityError', 'ws:// from an https page is blocked as mixed content');

  // From a plain-http page, HSTS does upgrade ws:// to wss:// (the control above failed at TLS;
  // now the handshake reaches Gatehouse over TLS) — but Chromium sends it with Origin "null"
  // (the internal HSTS redirect taints the origin), and Gatehouse refuses opaque origins.
  const before403 = running.logs.lines.length;
  const upgraded = await evaluateAt(cdp, `${plainOrigin}/`, tryWs(`ws://app.test:${port}/ws`));
  await new Promise((r) => setTimeout(r, 100));
  const seen = running.logs.lines.slice(before403).find((l) => l.event === 'websocket-refused');
  t.match(seen, { host: 'app.test', origin: 'null', status: 403 }, 'the HSTS-upgraded ws:// arrived over TLS, with Origin null, and was refused');
  t.equal(upgraded, 'closed 1006');
  await browser.close(); // before the profile folder is removed
});
