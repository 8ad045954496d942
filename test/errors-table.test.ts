// One table of refusals (issue 10): every 4xx/5xx status Gatehouse writes to a client comes from
// src/errors.ts, so a status and its code cannot drift apart. The admin listener and the cluster's
// admin aggregator are exempt: loopback operator endpoints, not client answers. So is the nginx
// importer (src/import/): its statuses are config it writes (`respond: { status: 403 }`), which
// the loader checks like a user's.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ERRORS, statusOf } from '../src/errors.js';
import { reasonPhrase } from '../src/http/respond.js';

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

const EXEMPT = new Set([join('src', 'errors.ts'), join('src', 'admin', 'server.ts'), join('src', 'cluster.ts')]);
// A 4xx/5xx literal where a status is written: `status: 404`, `respond(res, 413, …`, `refuse(res, 417, …`.
const BARE = /\bstatus:\s*[45]\d\d\b|\b(?:respond|respondRaw|refuse|writeHead)\([^,()]+,\s*[45]\d\d\b/;

t.test('no client-facing 4xx/5xx status is written as a bare number outside src/errors.ts', async (t) => {
  const offenders = sources('src').filter((file) => !EXEMPT.has(file) && !file.startsWith(join('src', 'import'))).flatMap((file) =>
    readFileSync(file, 'utf8').split('\n').flatMap((line, i) => (BARE.test(line) ? [`${file}:${i + 1}: ${line.trim()}`] : [])));
  t.strictSame(offenders, []);
});

t.test('every status in the table has a reason phrase for the raw HTTP/1.1 answers', async (t) => {
  for (const [code, entry] of Object.entries(ERRORS)) {
    if (entry.status === 0) continue;
    t.not(reasonPhrase(entry.status, ''), '', `${code} → ${entry.status}`);
    t.equal(statusOf(code as keyof typeof ERRORS), entry.status);
  }
});
