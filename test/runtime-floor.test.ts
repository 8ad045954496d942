import { spawnSync } from 'node:child_process';
import t from 'tap';
import { compareVersions, judgeRuntime, NODE_LINES, RUNTIME_BELOW_FLOOR, RUNTIME_END_OF_LIFE, warnAboutRuntime, type RuntimeVerdict } from '../src/lifecycle/runtime-floor.js';
import { basicConfig, writeConfigFile } from './helpers/edge.js';
import { CLI, spawnGatehouse } from './helpers/process.js';

const DEC_2026 = new Date('2026-12-07T00:00:00Z');
const code = (v: RuntimeVerdict): string => (v.ok ? 'ok' : v.code);

t.test('end-of-life lines warn, whatever their patch level; the last day of support does not', async (t) => {
  t.equal(code(judgeRuntime('v20.20.2', DEC_2026)), RUNTIME_END_OF_LIFE, 'Node 20 ended 2026-04-30');
  t.equal(code(judgeRuntime('v20.20.2', new Date('2026-04-30T23:59:59Z'))), 'ok', 'still supported on its last day');
  t.equal(code(judgeRuntime('v20.20.2', new Date('2026-05-01T00:00:00Z'))), RUNTIME_END_OF_LIFE);
  t.equal(code(judgeRuntime('v25.9.0', DEC_2026)), RUNTIME_END_OF_LIFE, 'odd lines end after six months');
  t.equal(code(judgeRuntime('v18.20.8', DEC_2026)), RUNTIME_END_OF_LIFE);
  t.equal(code(judgeRuntime('v16.20.2', DEC_2026)), RUNTIME_END_OF_LIFE, 'a line older than the table');
  t.equal(code(judgeRuntime('v22.30.0', new Date('2027-05-01T00:00:00Z'))), RUNTIME_END_OF_LIFE, 'above the floor but past the end of its line');
  const eol = judgeRuntime('v20.20.2', DEC_2026);
  t.match(eol.message, /^EDGE_WARN_RUNTIME_END_OF_LIFE: Node 20\.20\.2 is end-of-life \(line 20 ended 2026-04-30\)/);
  t.match(eol.message, /move to 22\.23\.2\+, 24\.18\.1\+, 26\.5\.1\+$/, 'names the supported lines with their floors');
});

t.test('supported lines warn below the first patch with the llhttp 9.4.2/9.4.3 and TLS fixes, and not from it on', async (t) => {
  const cases: [string, string][] = [
    ['v22.23.1', RUNTIME_BELOW_FLOOR], ['v22.23.2', 'ok'], ['v22.9.0', RUNTIME_BELOW_FLOOR], ['v22.23.3', 'ok'],
    ['v24.17.0', RUNTIME_BELOW_FLOOR], ['v24.18.0', RUNTIME_BELOW_FLOOR], ['v24.18.1', 'ok'], ['v24.21.0', 'ok'],
    ['v26.3.1', RUNTIME_BELOW_FLOOR], ['v26.5.0', RUNTIME_BELOW_FLOOR], ['v26.5.1', 'ok'], ['v26.10.0', 'ok'],
  ];
  for (const [version, expected] of cases) t.equal(code(judgeRuntime(version, DEC_2026)), expected, version);
  t.match(judgeRuntime('v24.12.0', DEC_2026).message, /^EDGE_WARN_RUNTIME_BELOW_FLOOR: Node 24\.12\.0 is below 24\.18\.1, the first 24\.x with the llhttp 9\.4\.2\/9\.4\.3 parser and TLS security fixes/);
  t.match(judgeRuntime('v24.21.0', DEC_2026).message, /supported until 2028-04-30, at or above the 24\.18\.1 security floor/);
});

t.test('a line newer than the table is not judged (the table needs a row, not the machine an upgrade)', async (t) => {
  const v = judgeRuntime('v28.1.0', DEC_2026);
  t.equal(code(v), 'ok');
  t.match(v.message, /newer than Gatehouse's runtime table/);
});

t.test('the table: one row per line, floors on their own line, supported lines all have a floor', async (t) => {
  const lines = NODE_LINES.map((l) => l.line);
  t.same(lines, [...new Set(lines)].sort((a, b) => a - b), 'sorted, no line twice');
  for (const l of NODE_LINES) {
    t.match(l.endOfLife, /^\d{4}-\d\d-\d\d$/, `${l.line}: end-of-life is a date`);
    if (l.floor !== undefined) t.equal(Number(l.floor.split('.')[0]), l.line, `${l.line}: floor ${l.floor} is on its line`);
  }
  // Every line still supported when the llhttp 9.4.x security releases came out carries a floor.
  for (const l of NODE_LINES.filter((x) => x.endOfLife >= '2026-12-01')) t.ok(l.floor, `${l.line} has a floor`);
  t.ok(Object.isFrozen(NODE_LINES) && NODE_LINES.every(Object.isFrozen), 'frozen');
  t.ok(compareVersions('24.9.0', '24.18.1') < 0 && compareVersions('24.18.1', '24.18.1') === 0 && compareVersions('26.10.0', '26.5.1') > 0, 'numeric, not lexical');
});

t.test('warnAboutRuntime logs one warning line with the code, or nothing', async (t) => {
  const seen: { fields: Record<string, unknown>; message: string }[] = [];
  const log = { warn: (fields: object, message: string): void => void seen.push({ fields: fields as Record<string, unknown>, message }) };
  warnAboutRuntime(log, judgeRuntime('v24.21.0', DEC_2026));
  t.same(seen, [], 'nothing on a patched supported line');
  warnAboutRuntime(log, judgeRuntime('v22.20.0', DEC_2026));
  t.equal(seen.length, 1);
  t.match(seen[0]?.fields, { event: 'runtime', code: RUNTIME_BELOW_FLOOR, node: '22.20.0' });
});

// The real thing, on whatever Node runs this file (20 on the CI machine: end-of-life).
const here = judgeRuntime();

t.test(`this machine's Node (${process.version}): the running edge and gatehouse check say what the table says`, async (t) => {
  if (process.versions.node.startsWith('20.')) t.equal(code(here), RUNTIME_END_OF_LIFE, 'Node 20 is end-of-life');
  const { file } = await writeConfigFile(t, `${basicConfig(['127.0.0.1:9'])}\nlog: { level: info, format: json }\n`);
  const gh = await spawnGatehouse(t, file);
  // The warning comes right after the start line: wait for it when one is due.
  if (!here.ok) await gh.until(() => gh.output().includes('"code":"EDGE_WARN_RUNTIME_'), 'the runtime warning');
  // By code: other runtime lines (a Node release with a known defect) are not this check's.
  const lines = gh.output().split('\n').filter((l) => l.includes('"code":"EDGE_WARN_RUNTIME_')).map((l) => JSON.parse(l) as Record<string, unknown>);
  if (here.ok) t.same(lines, [], 'no runtime warning');
  else t.match(lines, [{ level: 40, event: 'runtime', code: here.code, node: process.versions.node, msg: here.message }], 'exactly one warning line');
  gh.child.kill('SIGTERM');

  const check = spawnSync(process.execPath, [CLI, 'check', '--config', file], { encoding: 'utf8', timeout: 30_000 });
  t.equal(check.status, 0, 'a warning does not fail check');
  t.match(check.stdout, here.ok ? `runtime: ${here.message}` : `runtime: warning: ${here.message}`);
});

// On a Node the table warns about, the primary says so once; on any other, no process of the edge does.
t.test(`with workers, only the primary warns: ${here.ok ? 'none' : 'one line'} per edge on this Node`, async (t) => {
  const { file } = await writeConfigFile(t, `${basicConfig(['127.0.0.1:9'])}\nworkers: 2\nlog: { level: info, format: json }\n`);
  // spawnGatehouse returns once both workers serve: the primary's check ran before it forked them.
  const gh = await spawnGatehouse(t, file, 2);
  const count = (): number => (gh.output().match(/"code":"EDGE_WARN_RUNTIME_/g) ?? []).length;
  if (!here.ok) await gh.until(() => count() >= 1, 'the runtime warning');
  t.equal(count(), here.ok ? 0 : 1, here.ok ? 'no line from the primary or a worker' : 'one line, from the primary');
  gh.child.kill('SIGTERM');
});
