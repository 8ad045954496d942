import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { formatProblem, parseConfig } from '../src/config/load.js';
import { DEFAULTS } from '../src/config/schema.js';
import { parseDuration } from '../src/config/values.js';
import { tempDir } from './helpers/edge.js';
import { CLI } from './helpers/process.js';
import { HAPROXY, skipWithout } from './helpers/tools.js';

/* The deploy files are checked for what DESIGN "Past one machine" lists, by parsing them. */
const DEPLOY = join(import.meta.dirname, '..', 'deploy');
const DEFAULT_DRAIN = parseDuration(DEFAULTS.timeouts.drain) as number;

type Ini = Map<string, Map<string, string[]>>;

/** systemd's unit syntax, enough for assertions: [Section], Key=Value (repeatable), # and ; comments. */
function parseUnit(text: string): Ini {
  const sections: Ini = new Map();
  let current = new Map<string, string[]>();
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section !== null) {
      current = new Map();
      sections.set(section[1] as string, current);
      continue;
    }
    const eq = line.indexOf('=');
    if (eq === -1) throw new Error(`not Key=Value: ${line}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** systemd time spans as used here: "45s", "1min 30s", "2min", or bare seconds. */
function systemdSeconds(text: string): number {
  let total = 0;
  for (const [, n, unit] of text.matchAll(/(\d+)\s*(min|s|m|h)?/g)) total += Number(n) * ({ h: 3600, min: 60, m: 60, s: 1 }[unit ?? 's'] ?? 1);
  return total;
}

type Doc = Record<string, unknown> & { kind: string };

function k8sDocs(): Doc[] {
  const dir = join(DEPLOY, 'kubernetes');
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => {
    if (d.errors.length > 0) throw new Error(`${f}: ${d.errors.map((e) => e.message).join('; ')}`);
    return d.toJS() as Doc;
  }));
}

function one(docs: readonly Doc[], kind: string): Doc & Record<string, any> { // eslint-disable-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML
  const found = docs.filter((d) => d.kind === kind);
  if (found.length !== 1) throw new Error(`expected one ${kind}, found ${found.length}`);
  return found[0] as Doc;
}

const CONFIG_PATH = '/etc/gatehouse/config/gatehouse.yaml';

function configMapConfig(docs: readonly Doc[]): ReturnType<typeof parseConfig> {
  const text = (one(docs, 'ConfigMap').data as Record<string, string>)['gatehouse.yaml'] as string;
  return parseConfig(text, CONFIG_PATH);
}

t.test('gatehouse.service: unprivileged user, CAP_NET_BIND_SERVICE, SIGHUP reload, LimitNOFILE, a stop timeout past the drain', async (t) => {
  const unit = parseUnit(readFileSync(join(DEPLOY, 'gatehouse.service'), 'utf8'));
  const service = unit.get('Service');
  if (service === undefined) throw new Error('no [Service] section');
  const value = (key: string): string => (service.get(key) ?? []).join(' ');
  t.ok(value('User') !== '' && !['root', '0'].includes(value('User')), `runs as ${value('User')}`);
  t.match(value('AmbientCapabilities'), /\bCAP_NET_BIND_SERVICE\b/);
  t.match(value('ExecReload'), /^\/bin\/kill -HUP \$MAINPID$/);
  t.ok(Number(value('LimitNOFILE')) >= 65536, `LimitNOFILE=${value('LimitNOFILE')}`);
  const stop = systemdSeconds(value('TimeoutStopSec')) * 1000;
  t.ok(stop > DEFAULT_DRAIN, `TimeoutStopSec ${stop} ms > default drain ${DEFAULT_DRAIN} ms`);
  const drain = configMapConfig(k8sDocs()).config?.timeouts.drain ?? DEFAULT_DRAIN;
  t.ok(stop > drain, 'and past the shipped config\'s drain');
  t.match(value('ExecStart'), /gatehouse --config \S+/);
  t.match(value('Environment'), /(^| )LD_PRELOAD=libjemalloc\.so\.2( |$)/, 'jemalloc preloaded (glibc keeps what a reconnect storm allocated)');
  t.ok(unit.get('Install')?.get('WantedBy')?.includes('multi-user.target'));
});

const hasSystemdAnalyze = spawnSync('systemd-analyze', ['--version']).status === 0;
t.test('gatehouse.service passes systemd-analyze verify', { skip: skipWithout(hasSystemdAnalyze, 'systemd-analyze is not installed') }, async (t) => {
  // verify insists that ExecStart's binary exists: point the unit at a shim around this checkout's CLI.
  const dir = tempDir(t);
  const shim = join(dir, 'gatehouse');
  writeFileSync(shim, `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(shim, 0o755);
  const unit = join(dir, 'gatehouse.service');
  writeFileSync(unit, readFileSync(join(DEPLOY, 'gatehouse.service'), 'utf8').replaceAll('/usr/local/bin/gatehouse', shim));
  const run = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8' });
  // Lines about the host (no systemd running in a container, unknown users) are not the unit's fault.
  const complaints = `${run.stdout}${run.stderr}`.split('\n').filter((l) => l.includes('gatehouse.service'));
  t.same(complaints, [], 'no complaint about the unit');
});

t.test('kubernetes: 2+ replicas, readiness on the admin /healthz, preStop pause, grace period past the drain', async (t) => {
  const docs = k8sDocs();
  const { config, problems } = configMapConfig(docs);
  t.same(problems.map(formatProblem), [], "the ConfigMap's gatehouse.yaml passes Gatehouse's own loader");
  if (config === undefined) throw new Error('config refused');
  const deployment = one(docs, 'Deployment');
  t.ok(deployment.spec.replicas >= 2, `${deployment.spec.replicas} replicas`);
  const pod = deployment.spec.template.spec;
  const container = pod.containers[0];
  t.same(container.readinessProbe.httpGet, { path: '/healthz', port: config.listen.admin?.port }, 'readiness probes the admin listener');
  t.notOk(config.listen.admin?.host?.startsWith('127.'), 'the admin listener is reachable from the kubelet (not loopback)');
  const pause = container.lifecycle?.preStop?.sleep?.seconds ?? Number(container.lifecycle?.preStop?.exec?.command?.[1]);
  t.ok(pause > 0, `preStop pauses ${pause} s`);
  t.ok(pod.terminationGracePeriodSeconds * 1000 > config.timeouts.drain + pause * 1000, 'the grace period covers the pause and the drain');
  t.same(container.args, ['--config', CONFIG_PATH]);
  const ports = container.ports.map((p: { containerPort: number }) => p.containerPort);
  t.same(ports, [config.listen.https.port, config.listen.http?.port, config.listen.admin?.port], 'container ports are the configured listeners');
  t.ok(pod.securityContext.runAsNonRoot);
  t.same(container.env?.find((e: { name: string }) => e.name === 'LD_PRELOAD'), { name: 'LD_PRELOAD', value: 'libjemalloc.so.2' }, 'jemalloc, as in the systemd unit');
});

t.test('kubernetes: the certificate Secret is mounted as a directory (the ..data swap is seen) and named by the config', async (t) => {
  const docs = k8sDocs();
  const config = configMapConfig(docs).config;
  const pod = one(docs, 'Deployment').spec.template.spec;
  const certificate = one(docs, 'Certificate');
  t.equal(certificate.apiVersion, 'cert-manager.io/v1');
  const volume = pod.volumes.find((v: { secret?: { secretName: string } }) => v.secret?.secretName === certificate.spec.secretName);
  t.ok(volume, 'a volume holds the Certificate\'s Secret');
  const mount = pod.containers[0].volumeMounts.find((m: { name: string }) => m.name === volume.name);
  t.equal(mount.subPath, undefined, 'no subPath: those mounts never see a renewal');
  for (const pair of config?.tls.certificates ?? []) {
    t.equal(pair.cert, `${mount.mountPath}/tls.crt`);
    t.equal(pair.key, `${mount.mountPath}/tls.key`);
  }
  const configVolume = pod.volumes.find((v: { configMap?: { name: string } }) => v.configMap?.name === one(docs, 'ConfigMap').metadata.name);
  t.ok(configVolume, 'the ConfigMap is mounted');
});

t.test('kubernetes: the Service keeps client addresses (externalTrafficPolicy: Local) and targets the listeners', async (t) => {
  const docs = k8sDocs();
  const config = configMapConfig(docs).config;
  const service = one(docs, 'Service');
  t.equal(service.spec.type, 'LoadBalancer');
  t.equal(service.spec.externalTrafficPolicy, 'Local');
  const byPort = new Map(service.spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]));
  t.equal(byPort.get(443), config?.listen.https.port);
  t.equal(byPort.get(80), config?.listen.http?.port);
  t.same(service.spec.selector, one(docs, 'Deployment').spec.template.metadata.labels);
});

t.test('haproxy.cfg: mode tcp, every server with send-proxy-v2 and check inter 500ms, accepted by haproxy -c', async (t) => {
  const text = readFileSync(join(DEPLOY, 'haproxy.cfg'), 'utf8');
  const lines = text.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter((l) => l !== '');
  t.ok(lines.includes('mode tcp'), 'mode tcp');
  const servers = lines.filter((l) => l.startsWith('server '));
  t.ok(servers.length >= 4, 'two instances behind each of :443 and :80');
  for (const s of servers) t.match(s, /\bsend-proxy-v2\b.*\bcheck\b.*\binter 500ms\b/, s);
  t.ok(lines.some((l) => /^bind \S*:443$/.test(l)) && lines.some((l) => /^bind \S*:80$/.test(l)), 'binds :443 and :80');
  // The static checks above run everywhere; `haproxy -c` only where it is installed (under CI it must be).
  if (HAPROXY === undefined) return void t.comment(skipWithout(false, 'haproxy is not installed: haproxy -c skipped'));
  const check = spawnSync(HAPROXY, ['-c', '-f', join(DEPLOY, 'haproxy.cfg')], { encoding: 'utf8' });
  t.equal(check.status, 0, `${check.stdout}${check.stderr}`);
});
