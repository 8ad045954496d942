// README's error table lists exactly the codes of ERRORS, each with its status, source and body
// text (as fastify's errors test keeps its docs in step with its registry).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ERRORS, type EdgeErrorCode } from '../src/errors.js';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** The rows "| `CODE` | status | source | body |" of the "## Error codes" section. */
function readmeRows(): Map<string, readonly string[]> {
  const at = README.indexOf('## Error codes');
  const section = README.slice(at, README.indexOf('\n## ', at + 1));
  const rows = new Map<string, readonly string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| `(EDGE_ERR_[A-Z_]+)` \|(.*)\|$/.exec(line);
    if (m !== null) rows.set(m[1] as string, (m[2] as string).split('|').map((c) => c.trim()));
  }
  return rows;
}

t.test('README lists every code of ERRORS, and nothing else', async (t) => {
  const rows = readmeRows();
  t.ok(rows.size > 0, 'the section is there');
  t.strictSame([...rows.keys()].sort(), Object.keys(ERRORS).sort());
});

t.test('each README row says the status, source and body text the table has', async (t) => {
  for (const [code, [status, source, body]] of readmeRows()) {
    const entry = ERRORS[code as EdgeErrorCode];
    if (entry === undefined) continue; // reported by the test above
    t.equal(status, entry.status === 0 ? '—' : String(entry.status), `${code} status`);
    t.equal(source, entry.source, `${code} source`);
    t.equal(body, entry.status === 0 ? '(never sent)' : entry.text, `${code} body`);
  }
});
