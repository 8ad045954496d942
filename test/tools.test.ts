import t from 'tap';
import { skipWithout, underCi } from './helpers/tools.js';

t.test('a test that needs a missing tool is skipped on a developer machine and fails under CI', async (t) => {
  t.equal(skipWithout(true, 'x is not installed', { CI: 'true' }), false, 'a present tool: the test runs, CI or not');
  t.equal(skipWithout(false, 'x is not installed', {}), 'x is not installed', 'no CI: skipped with the reason');
  t.equal(skipWithout(false, 'x is not installed', { CI: 'false' }), 'x is not installed', 'CI=false counts as no CI');
  t.equal(skipWithout(false, 'x is not installed', { CI: '' }), 'x is not installed', 'an empty CI counts as no CI');
  t.throws(() => skipWithout(false, 'x is not installed', { CI: 'true' }), /x is not installed, and CI=true: under CI every tool/, 'CI=true: the test file fails, naming the tool');
  t.throws(() => skipWithout(false, 'x is not installed', { CI: '1' }), /x is not installed/, 'any other CI value counts as CI');
  t.ok(underCi({ CI: 'yes' }));
  t.notOk(underCi({}));
});
