import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020 } from 'ajv/dist/2020.js';
import t from 'tap';
import { parse } from 'yaml';
import { configJsonSchema, readmeDescriptions } from '../src/config/json-schema.js';
import { parseConfig } from '../src/config/load.js';
import { CLI } from './helpers/process.js';

/*
 * `gatehouse schema` is generated from the loader's own shapes (config/schema.ts CONFIG), so the
 * two can only disagree where a rule is not about shape. This file pins that down: every fixture
 * the loader accepts validates; every fixture it refuses for a shape reason fails validation; the
 * ones it refuses for another reason are listed here with that reason.
 */
const dir = join(import.meta.dirname, 'fixtures', 'config');
const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');
const schema = configJsonSchema(readmeDescriptions(README));

const ajv = new Ajv2020({ strict: true, allowUnionTypes: true, allErrors: true });
ajv.addKeyword('markdownDescription'); // VS Code's and yaml-language-server's Markdown twin of description
const validate = ajv.compile(schema);

/** Refused by the loader for something a JSON Schema cannot see. */
const NOT_SHAPE: Readonly<Record<string, string>> = {
  'acme-no-http': 'semantic: http-01 needs listen.http, which is false',
  'cache-no-store': 'semantic: a route cache needs the top-level cache store',
  'duplicate-keys': 'YAML: a key appears twice in one mapping (the YAML parser refuses it before any schema)',
  syntax: 'YAML syntax error',
};

function fixtures(): string[] {
  return readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => f.slice(0, -5)).sort();
}

function errorsOf(value: unknown): string {
  return validate(value) ? '' : (validate.errors ?? []).slice(0, 5).map((e: { instancePath: string; message?: string }) => `${e.instancePath} ${e.message ?? ''}`).join('; ');
}

t.test('the schema is draft 2020-12 and compiles in strict mode', async (t) => {
  t.equal(schema.$schema, 'https://json-schema.org/draft/2020-12/schema');
  t.equal(typeof validate, 'function');
});

for (const name of fixtures()) {
  t.test(`fixture ${name}: loader and schema agree`, async (t) => {
    const text = readFileSync(join(dir, `${name}.yaml`), 'utf8');
    const { config, problems } = parseConfig(text, `/etc/gatehouse/${name}.yaml`);
    if (config !== undefined) {
      t.equal(errorsOf(parse(text)), '', 'accepted by the loader, valid for the schema');
      return;
    }
    const reason = NOT_SHAPE[name];
    if (reason !== undefined) {
      t.comment(`${name}: refused for a non-shape reason (${reason}): ${problems.map((p) => p.message).join(' | ')}`);
      if (!reason.startsWith('YAML')) t.equal(errorsOf(parse(text)), '', 'its shape is fine: the schema accepts it');
      return;
    }
    t.not(errorsOf(parse(text)), '', 'refused by the loader for its shape, invalid for the schema too');
  });
}

/** minimal.yaml with one shape mistake each (a path into it, and the value put there; undefined deletes): the loader and the schema both refuse every one. */
const MISTAKES: readonly [string, readonly (string | number)[], unknown][] = [
  ['an unknown top-level key', ['listn'], { http: 80 }],
  ['an unknown key in a route', ['sites', 0, 'routes', 0, 'upstrem'], 'app'],
  ['an unknown key in an upstream', ['upstreams', 'app', 'keepAlive'], 4],
  ['a string where a boolean goes', ['hsts'], { preload: 'yes' }],
  ['a number out of range', ['http2'], { maxConcurrentStreams: 0 }],
  ['a bad enum', ['log'], { level: 'verbose' }],
  ['a bad duration', ['timeouts'], { idle: '10 seconds' }],
  ['a bad size', ['limits'], { bodySize: '10 megs' }],
  ['a mapping where a list goes', ['sites', 0, 'hosts'], { a: 1 }],
  ['a site without hosts', ['sites', 0, 'hosts'], undefined],
  ['an unknown key in a rate limit', ['rateLimits'], { api: { rate: '10/s', brust: 5 } }],
  ['an unknown key in files', ['sites', 0, 'routes', 0], { path: '/', files: { root: '.', indx: [] } }],
  ['a bad redirect status', ['redirect'], { status: 303 }],
  ['an unknown key in tls.acme', ['tls', 'acme'], { challange: 'http-01' }],
  ['a bad log.format', ['log'], { format: 'text' }],
  ['a bad log.access', ['log'], { access: 'common' }],
];

function put(doc: unknown, path: readonly (string | number)[], value: unknown): void {
  let at = doc as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) at = at[key] as Record<string | number, unknown>;
  const last = path[path.length - 1] as string | number;
  if (value === undefined) delete at[last];
  else at[last] = value;
}

t.test('one shape mistake at a time: the loader and the schema both refuse it', async (t) => {
  const minimal = readFileSync(join(dir, 'minimal.yaml'), 'utf8');
  t.equal(errorsOf(parse(minimal)), '');
  for (const [what, path, value] of MISTAKES) {
    const doc: unknown = parse(minimal);
    put(doc, path, value);
    const { config } = parseConfig(JSON.stringify(doc), '/etc/gatehouse/mistake.yaml');
    t.equal(config, undefined, `${what}: the loader refuses it`);
    t.not(errorsOf(doc), '', `${what}: the schema refuses it`);
  }
});

t.test('every key of README\'s configuration reference has its description in the schema', async (t) => {
  const section = README.slice(README.indexOf('## Configuration reference'));
  const keys = [...section.slice(0, section.indexOf('\n## ', 1)).matchAll(/^\| `([^`]+)` \| [^|]*\| *[^| ]/gm)].map((m) => m[1] as string);
  t.ok(keys.length > 60, `${keys.length} keys in the table`);
  const text = JSON.stringify(schema);
  for (const key of keys) {
    const meaning = readmeDescriptions(README)(key);
    if (meaning === undefined) {
      t.fail(`${key}: no meaning read`);
      continue;
    }
    t.ok(text.includes(JSON.stringify(meaning)), `${key}: its meaning is a markdownDescription`);
  }
});

t.test('gatehouse schema prints the same schema, README descriptions included', async (t) => {
  const out = spawnSync(process.execPath, [CLI, 'schema'], { encoding: 'utf8', timeout: 20_000 });
  t.equal(out.status, 0, out.stderr);
  t.same(JSON.parse(out.stdout), schema);
});

t.test('config.example.yaml names the schema for yaml-language-server and validates', async (t) => {
  const text = readFileSync(join(import.meta.dirname, '..', 'config.example.yaml'), 'utf8');
  t.match(text.split('\n')[0], /^# yaml-language-server: \$schema=/);
  t.equal(errorsOf(parse(text)), '');
});
