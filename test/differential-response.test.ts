// Differential test of the upstream response parser against llhttp (issue 10): every response in
// the table goes from a raw net server to Node's own client (http.request, which is llhttp) and
// straight into Gatehouse's ResponseParser — whole, byte by byte, and cut at every boundary. Both
// must agree on accept/reject, the final status, the body bytes and where the next response
// starts; the cases where Gatehouse differs on purpose name why, and README lists them with what
// nginx does.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { CASES } from './helpers/differential-response-cases.js';
import { rawResponder, viaGatehouse, viaLlhttp } from './helpers/differential.js';

t.test('each upstream response is framed as llhttp frames it, or differs as the table says', async (t) => {
  const port = await rawResponder(t, CASES.map((c) => c.bytes));
  for (const [index, c] of CASES.entries()) {
    await t.test(c.name, async (t) => {
      const method = c.method ?? 'GET';
      const llhttp = await viaLlhttp(port, index, method);
      const gatehouse = viaGatehouse(c.bytes, method === 'HEAD');
      t.same(gatehouse.splitMismatches, [], 'the same outcome however the bytes are split');
      if (c.deliberate === undefined) {
        t.same(gatehouse.outcome, llhttp, 'Gatehouse agrees with llhttp');
      } else {
        t.same(gatehouse.outcome, c.deliberate.gatehouse, `Gatehouse on purpose: ${c.deliberate.reason}`);
        const from = c.deliberate.llhttpAgreesFrom;
        if (from !== undefined && versionAtLeast(process.versions.llhttp, from)) t.same(llhttp, gatehouse.outcome, `llhttp ${process.versions.llhttp} agrees (since ${from})`);
        else t.notSame(llhttp, gatehouse.outcome, 'llhttp still differs (else the entry is stale)');
      }
    });
  }
});

/** Dotted numeric versions, "9.4.3" >= "9.4.0". */
function versionAtLeast(version: string | undefined, from: string): boolean {
  const have = (version ?? '0').split('.').map(Number);
  const want = from.split('.').map(Number);
  for (let i = 0; i < want.length; i++) {
    const a = have[i] ?? 0;
    const b = want[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

t.test('README names every deliberate difference', async (t) => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const start = readme.indexOf('### Where the upstream parser differs from llhttp');
  t.ok(start >= 0, 'README has the section');
  const section = readme.slice(start, readme.indexOf('\n## ', start) === -1 ? undefined : readme.indexOf('\n## ', start));
  for (const c of CASES) if (c.deliberate !== undefined) t.ok(section.includes(c.name), c.name);
});
