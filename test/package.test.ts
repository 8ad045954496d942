import { readFileSync } from 'node:fs';
import { delimiter, dirname, join } from 'node:path';
import t from 'tap';
import { basicConfig, tempDir, writeConfigFile } from './helpers/edge.js';
import { run } from './helpers/process.js';

/*
 * The npm package as a user gets it: `npm pack` of this checkout, `npm install -g` of that
 * tarball into an empty prefix (dependencies from the registry npm is configured with, or its
 * cache), then the installed `gatehouse` command. Proves the `files` list and `bin` are complete.
 * The pack skips lifecycle scripts (prepack builds): other test files run dist/ meanwhile, and
 * `npm test` has just built it.
 */
const REPO = join(import.meta.dirname, '..');
const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { name: string; version: string; bin: Record<string, string> };
// The installed shim starts with `#!/usr/bin/env node`: this Node, first on PATH.
const env = { ...process.env, PATH: `${dirname(process.execPath)}${delimiter}${process.env.PATH ?? ''}` };

t.test('npm pack → npm install -g on a clean prefix → gatehouse --version and gatehouse check work', { timeout: 300_000 }, async (t) => {
  const dir = tempDir(t, 'gatehouse-package-');
  const packed = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir], 120_000, undefined, { cwd: REPO, env });
  t.equal(packed.code, 0, `npm pack: ${packed.stderr}`);
  const [info] = JSON.parse(packed.stdout) as [{ filename: string; files: { path: string }[] }];
  const files = info.files.map((f) => f.path);
  for (const f of ['package.json', 'README.md', 'config.example.yaml', 'dist/cli.js', 'dist/edge.js', 'dist/lifecycle/runtime-floor.js', 'scripts/healthcheck.mjs', 'deploy/gatehouse.service', 'deploy/compose.yaml']) {
    t.ok(files.includes(f), `the tarball has ${f}`);
  }
  t.same(files.filter((f) => /^(src|test|bench|certs|\.ci|node_modules)\//.test(f)), [], 'no sources, tests, benches, certificates or node_modules');

  const prefix = join(dir, 'prefix');
  const installed = await run('npm', ['install', '--global', '--prefix', prefix, '--no-audit', '--no-fund', '--prefer-offline', join(dir, info.filename)], 240_000, undefined, { cwd: dir, env });
  t.equal(installed.code, 0, `npm install -g: ${installed.stdout}${installed.stderr}`);
  const bin = join(prefix, 'bin', Object.keys(pkg.bin)[0] ?? pkg.name);

  const version = await run(bin, ['--version'], 30_000, undefined, { cwd: dir, env });
  t.equal(version.code, 0, version.stderr);
  t.equal(version.stdout.trim(), pkg.version, 'the installed command prints the package version');

  const { file } = await writeConfigFile(t, basicConfig(['127.0.0.1:9']));
  const check = await run(bin, ['check', '--config', file], 30_000, undefined, { cwd: dir, env });
  t.equal(check.code, 0, `gatehouse check: ${check.stdout}${check.stderr}`);
  t.match(check.stdout, /: ok, serves localhost/, 'the certificate is read');
  t.match(check.stdout, /^runtime: /m, 'the runtime line');
  t.match(check.stdout, /configuration is usable/);

  const broken = await writeConfigFile(t, basicConfig(['127.0.0.1:9'], 'timeouts: { drain: forever }'));
  const refused = await run(bin, ['check', '--config', broken.file], 30_000, undefined, { cwd: dir, env });
  t.equal(refused.code, 1, 'a bad config fails check');
  t.ok(refused.stdout.split('\n').some((l) => l.startsWith(`${broken.file}:`) && /^:\d+:\d+ /.test(l.slice(broken.file.length))), `with FILE:LINE:COL: ${refused.stdout}`);
});
