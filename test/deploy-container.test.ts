import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { formatProblem, parseConfig } from '../src/config/load.js';
import type { Config } from '../src/config/types.js';
import { parseDuration } from '../src/config/values.js';
import { judgeRuntime, NODE_LINES } from '../src/lifecycle/runtime-floor.js';

/*
 * The container deploy files, read as data (fast, everywhere): the Dockerfile, deploy/compose.yaml
 * with its gatehouse.yaml, and what the Kubernetes manifests share with the image. The image
 * itself is built and run in test/image.test.ts.
 */
const REPO = join(import.meta.dirname, '..');
const read = (path: string): string => readFileSync(join(REPO, path), 'utf8');

/** Dockerfile instructions, continuation lines joined, comments dropped: [INSTRUCTION, rest]. */
function dockerfile(text: string): [string, string][] {
  return text.replace(/\\\n/g, ' ').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => { const [word = '', ...rest] = l.split(/\s+/); return [word.toUpperCase(), rest.join(' ')]; });
}

function loadedConfig(path: string): Config {
  const { config, problems } = parseConfig(read(path), join(REPO, path));
  if (config === undefined) throw new Error(`${path}: ${problems.map(formatProblem).join('\n')}`);
  return config;
}

const steps = dockerfile(read('Dockerfile'));
const finalStage = steps.slice(steps.map(([i]) => i).lastIndexOf('FROM'));
const all = (instruction: string, from = steps): string[] => from.filter(([i]) => i === instruction).map(([, rest]) => rest);

t.test('Dockerfile: BASE defaults to a current Node LTS; build then runtime stage; non-root; HEALTHCHECK; volumes; SIGTERM', async (t) => {
  const base = /^BASE=node:(\d+)-bookworm-slim$/.exec(all('ARG')[0] ?? '');
  t.ok(base, `ARG BASE=node:LINE-bookworm-slim (got ${all('ARG')[0]})`);
  const line = Number(base?.[1]);
  t.equal(line % 2, 0, 'an even (LTS) line');
  t.ok(judgeRuntime(`v${line}.9999.0`).ok, `Node ${line} is not end-of-life by the runtime table`);
  t.ok(NODE_LINES.some((l) => l.line === line && l.floor !== undefined), 'and has a security floor in the table');
  t.same(all('FROM'), ['${BASE} AS build', '${BASE}'], 'a build stage and a runtime stage, both on BASE');
  t.match(all('RUN', steps.slice(0, steps.length - finalStage.length)).join('\n'), /npm ci[\s\S]*npm run build && npm prune --omit=dev/, 'build: npm ci, build, drop dev dependencies');
  t.same(all('COPY', finalStage).map((c) => c.split(' ').at(-2)), ['/src/package.json', '/src/node_modules', '/src/dist', 'scripts/healthcheck.mjs', 'scripts/certs.mjs', 'README.md'], 'runtime: production dependencies, dist, the healthcheck, the importer\'s certificate maker and README (schema descriptions) only (no src, no dev tools)');
  const user = all('USER', finalStage).at(-1) ?? '';
  t.ok(user !== '' && !/^(root|0)(:|$)/.test(user), `runs as ${user}`);
  t.match(all('RUN', finalStage).join('\n'), /useradd --system --uid 10001\b/, 'uid 10001');
  t.match(all('HEALTHCHECK', finalStage)[0] ?? '', /CMD \["node", "\/app\/scripts\/healthcheck\.mjs"\]/);
  t.same(all('STOPSIGNAL', finalStage), ['SIGTERM']);
  t.same(all('VOLUME', finalStage), ['["/etc/gatehouse/config", "/etc/gatehouse/tls", "/var/lib/gatehouse"]']);
  t.same(all('ENTRYPOINT', finalStage), ['["node", "/app/dist/cli.js"]']);
  t.match(all('ENV', finalStage).join(' '), /GATEHOUSE_CONFIG=\/etc\/gatehouse\/config\/gatehouse\.yaml/);
});

t.test('.dockerignore: nothing but what the Dockerfile copies (no node_modules, dist, certs or keys)', async (t) => {
  const lines = read('.dockerignore').split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
  t.equal(lines[0], '*', 'everything ignored first');
  t.same(lines.slice(1).sort(), ['!README.md', '!package-lock.json', '!package.json', '!scripts/certs.d.mts', '!scripts/certs.mjs', '!scripts/healthcheck.mjs', '!src/**', '!tsconfig.json']);
});

interface ComposeService {
  image?: string; ports?: string[]; volumes?: string[]; sysctls?: Record<string, number | string>;
  stop_signal?: string; stop_grace_period?: string; read_only?: boolean; cap_drop?: string[];
}

t.test('compose: ports 1:1 with the config, the sysctl that lets uid 10001 bind them, a certificate volume, grace past the drain', async (t) => {
  const compose = parse(read('deploy/compose.yaml')) as { services: Record<string, ComposeService>; volumes?: Record<string, unknown> };
  const gh = compose.services.gatehouse;
  if (gh === undefined) throw new Error('no gatehouse service');
  const mounts = new Map((gh.volumes ?? []).map((v) => { const [src = '', dst = ''] = v.split(':'); return [dst, src]; }));
  const configDir = mounts.get('/etc/gatehouse/config');
  t.ok(configDir, 'a config directory is mounted');
  const config = loadedConfig(join('deploy', String(configDir), 'gatehouse.yaml'));
  const ports = [config.listen.https.port, config.listen.http?.port].filter((p): p is number => p !== undefined);
  t.same(gh.ports, ports.map((p) => `${p}:${p}`), 'published 1:1: redirects name the first listen.https port, which clients must reach');
  t.ok(Number(gh.sysctls?.['net.ipv4.ip_unprivileged_port_start']) <= Math.min(...ports), 'the unprivileged-port sysctl covers the listeners');
  t.equal(gh.stop_signal, 'SIGTERM');
  t.ok((parseDuration(gh.stop_grace_period ?? '0') as number) > config.timeouts.drain, `stop_grace_period ${gh.stop_grace_period} > timeouts.drain ${config.timeouts.drain} ms`);
  t.ok(gh.read_only, 'read-only root filesystem');
  t.same(gh.cap_drop, ['ALL']);
  const storage = config.tls.acme?.storage ?? '';
  const certVolume = [...mounts].find(([dst]) => storage.startsWith(`${dst}/`));
  t.ok(certVolume && compose.volumes?.[certVolume[1]] !== undefined, `tls.acme storage ${storage} is on a named volume`);
  t.match(config.listen.admin?.host ?? '', /^127\./, 'the admin listener stays inside the container (the HEALTHCHECK runs there)');
  const hosts = [...config.upstreams.values()].flatMap((u) => u.targets.map((x) => x.host));
  t.same(hosts, ['app'], 'the upstream is the app service, by its compose name');
  t.ok(compose.services.app, 'an app service');
});

type Doc = Record<string, unknown> & { kind: string };

t.test('kubernetes: a documented placeholder image, the same uid as the image, listeners on the Service\'s public ports', async (t) => {
  const docs = ['deployment.yaml', 'configmap.yaml', 'service.yaml'].flatMap((f) => parseAllDocuments(read(join('deploy', 'kubernetes', f))).map((d) => d.toJS() as Doc));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are free-form YAML
  const one = (kind: string): any => docs.find((d) => d.kind === kind);
  const pod = one('Deployment').spec.template.spec;
  const image = pod.containers[0].image as string;
  t.equal(image, 'registry.example.com/gatehouse:0.1.0', 'the placeholder README tells you to replace');
  t.match(read('README.md'), image, 'README names it');
  t.equal(pod.securityContext.runAsUser, 10001, 'the Dockerfile\'s uid');
  const config = parseConfig(one('ConfigMap').data['gatehouse.yaml'], '/etc/gatehouse/config/gatehouse.yaml').config;
  const service = new Map<number, number>(one('Service').spec.ports.map((p: { port: number; targetPort: number }) => [p.port, p.targetPort]));
  t.equal(config?.listen.https.port, 443, 'the pod listens on 443 itself: a redirect from :80 names this port');
  t.equal(service.get(443), 443);
  t.equal(service.get(80), config?.listen.http?.port);
  const sysctl = pod.securityContext.sysctls?.find((s: { name: string }) => s.name === 'net.ipv4.ip_unprivileged_port_start');
  t.ok(Number(sysctl?.value) <= 80, 'non-root binds 443 and 80 through the unprivileged-port sysctl');
});
