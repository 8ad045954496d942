import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { formatProblem, loadConfig, parseConfig } from '../src/config/load.js';
import { parseDuration, parseSize } from '../src/config/values.js';

/*
 * Golden pairs: test/fixtures/config/NAME.yaml is parsed as if it lived at /etc/gatehouse/NAME.yaml,
 * and what a user would see (problems as FILE:LINE:COL, then the normalised config as JSON) must
 * equal NAME.expected. Regenerate after a deliberate change with GOLDEN_UPDATE=1, then review the diff.
 */
const dir = join(import.meta.dirname, 'fixtures', 'config');

function render(name: string, text: string): string {
  const { config, problems } = parseConfig(text, `/etc/gatehouse/${name}.yaml`);
  const lines = problems.map(formatProblem);
  const value = config === undefined ? 'config: none' : JSON.stringify(config, (_k, v: unknown) => (v instanceof Map ? Object.fromEntries(v) : v), 2);
  return `${lines.join('\n')}${lines.length > 0 ? '\n' : ''}${value}\n`;
}

for (const file of readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort()) {
  const name = file.slice(0, -5);
  t.test(`golden: ${name}`, async (t) => {
    const actual = render(name, readFileSync(join(dir, file), 'utf8'));
    const expectedPath = join(dir, `${name}.expected`);
    if (process.env.GOLDEN_UPDATE === '1') writeFileSync(expectedPath, actual);
    t.equal(actual, readFileSync(expectedPath, 'utf8'));
  });
}

t.test('every error in a file is reported at once, each with its own line', async (t) => {
  const { config, problems } = parseConfig(readFileSync(join(dir, 'errors.yaml'), 'utf8'), '/x/errors.yaml');
  t.equal(config, undefined);
  const lines = new Set(problems.map((p) => p.line));
  t.ok(problems.length >= 15, `got ${problems.length} problems`);
  t.ok(lines.size >= 12, 'problems point at distinct lines');
});

t.test('a YAML alias bomb is refused quickly, not expanded', async (t) => {
  const lines = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
  const names = 'bcdefghijklmnop'.split('');
  let previous = 'a';
  for (const n of names) {
    lines.push(`${n}: &${n} [*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous},*${previous}]`);
    previous = n;
  }
  const started = process.hrtime.bigint();
  const { config, problems } = parseConfig(lines.join('\n'), '/x/bomb.yaml');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  t.equal(config, undefined);
  t.match(problems[0]?.message ?? '', /alias/i);
  t.comment(`refused in ${ms.toFixed(1)} ms`);
});

t.test('the config value is deeply frozen', async (t) => {
  const { config } = parseConfig(readFileSync(join(dir, 'full.yaml'), 'utf8'), '/x/full.yaml');
  if (config === undefined) throw new Error('full.yaml must be valid');
  t.ok(Object.isFrozen(config.hsts));
  t.ok(Object.isFrozen(config.sites[0]?.routes[0]?.websocket.origins));
  t.throws(() => (config.upstreams as Map<string, unknown>).set('x', {}));
});

t.test('a missing file names the path and what to do', async (t) => {
  const { config, problems } = await loadConfig('/nonexistent/gatehouse.yaml');
  t.equal(config, undefined);
  t.match(formatProblem(problems[0] as never), /^\/nonexistent\/gatehouse\.yaml:1:1 .*--config/);
});

t.test('durations', async (t) => {
  t.equal(parseDuration('500ms'), 500);
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('2d'), 172_800_000);
  t.equal(parseDuration('1y'), 31_536_000_000);
  t.equal(parseDuration(90), 90_000);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('10 seconds'), undefined);
  t.equal(parseDuration(-1), undefined);
  t.equal(parseDuration('1w'), undefined);
});

t.test('sizes, as nginx writes them', async (t) => {
  const cases: [unknown, number | undefined][] = [
    [4096, 4096], ['4096', 4096], ['16k', 16_384], ['16K', 16_384], ['10m', 10_485_760], ['10MB', 10_485_760],
    ['1g', 1_073_741_824], ['1.5m', undefined], ['10 megs', undefined], [-1, undefined], ['1t', undefined],
  ];
  for (const [input, bytes] of cases) t.equal(parseSize(input), bytes, String(input));
});
