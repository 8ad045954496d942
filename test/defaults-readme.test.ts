import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { DEFAULTS } from '../src/config/schema.js';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** README key → DEFAULTS path: per-upstream and per-route keys share one DEFAULTS entry. */
function defaultsPath(key: string): string {
  return key.replace(/^upstreams\.NAME\./, 'upstream.').replace(/^sites\[\]\.routes\[\]\./, 'route.').replace(/^route\.websocket\./, 'websocket.')
    .replace(/^rateLimits\.NAME\./, 'rateLimit.').replace(/^route\.auth\.basic\./, 'basicAuth.')
    .replace(/^route\.cache\./, 'cache.route.').replace(/^route\.access\./, 'access.').replace(/^route\.auth\.forward\./, 'forwardAuth.').replace(/^sites\[\]\./, 'site.');
}

/** Every leaf of DEFAULTS as "a.b.c" → value. */
function leaves(value: unknown, prefix = ''): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    for (const [k, v] of Object.entries(value)) for (const [p, leaf] of leaves(v, prefix === '' ? k : `${prefix}.${k}`)) out.set(p, leaf);
  } else {
    out.set(prefix, value);
  }
  return out;
}

/** The configuration reference: rows "| `key` | default | meaning |" after its heading. */
function readmeDefaults(): Map<string, string> {
  const section = README.slice(README.indexOf('## Configuration reference'));
  const rows = new Map<string, string>();
  for (const line of section.slice(0, section.indexOf('\n## ', 1)).split('\n')) {
    const m = /^\| `([^`]+)` \| ([^|]*) \|/.exec(line);
    if (m !== null) rows.set(defaultsPath(m[1] as string), (m[2] as string).trim());
  }
  return rows;
}

/** How README writes a DEFAULTS value: `value` first in the cell; false and null are "off" for features. */
function matches(cell: string, value: unknown): boolean {
  const shown = /^`([^`]*)`/.exec(cell)?.[1];
  if (shown === undefined) return cell === 'off' && (value === false || value === null);
  return shown === (typeof value === 'object' ? JSON.stringify(value) : String(value));
}

t.test('README\'s configuration table and DEFAULTS agree on every default', async (t) => {
  const rows = readmeDefaults();
  t.ok(rows.size > 30, 'the table was found');
  const defaults = leaves(DEFAULTS);
  for (const [path, value] of defaults) {
    const cell = rows.get(path);
    t.ok(cell !== undefined && matches(cell, value), `${path}: DEFAULTS ${JSON.stringify(value)}, README ${cell === undefined ? 'has no row' : `"${cell}"`}`);
  }
  // A README default that DEFAULTS does not hold would be a fallback living somewhere else.
  for (const [path, cell] of rows) {
    if (/^`/.test(cell) && !defaults.has(path)) t.fail(`${path}: README says ${cell} but DEFAULTS has no such key`);
  }
});
