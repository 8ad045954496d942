#!/usr/bin/env node
// The long run of the framing fuzz harness (issue 19; test/framing-fuzz.test.ts): N h1 cases
// (and N/4 h2 connections) per round from consecutive seeds, round after round, until --cases
// or --minutes is reached. Prints one line per round (seed, cases, seconds, result) and a total;
// exits 1 on the first round with a violation, whose seed reproduces it:
//   FUZZ_SEED=<seed> FUZZ_CASES=<n> npx tap test/framing-fuzz.test.ts
// Usage: node scripts/fuzz-framing.mjs [--cases 1000000] [--minutes 30] [--seed 1] [--round 20000]
import { spawnSync } from 'node:child_process';
import { parseArgs } from 'node:util';

const { values } = parseArgs({ options: { cases: { type: 'string', default: '1000000' }, minutes: { type: 'string', default: '0' }, seed: { type: 'string', default: '1' }, round: { type: 'string', default: '20000' } } });
const target = Number(values.cases);
const deadline = Number(values.minutes) > 0 ? Date.now() + Number(values.minutes) * 60_000 : Infinity;
const round = Number(values.round);
const started = Date.now();
let done = 0;
let h2 = 0;
for (let seed = Number(values.seed); done < target && Date.now() < deadline; seed++) {
  const cases = Math.min(round, target - done);
  const t0 = Date.now();
  const run = spawnSync('npx', ['tap', '--disable-coverage', '-t0', '-R', 'tap', 'test/framing-fuzz.test.ts'], {
    env: { ...process.env, FUZZ_SEED: String(seed), FUZZ_CASES: String(cases) }, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024,
  });
  const ok = run.status === 0;
  done += cases;
  h2 += Math.ceil(cases / 4);
  console.log(`seed ${seed}: ${cases} h1 cases + ${Math.ceil(cases / 4)} h2 connections, ${((Date.now() - t0) / 1000).toFixed(0)} s, ${ok ? '0 violations' : 'VIOLATION'}`);
  if (!ok) {
    console.log(run.stdout.split('\n').filter((l) => /not ok|String\(|case \d|client bytes|streams:/.test(l)).slice(0, 40).join('\n'));
    process.exit(1);
  }
}
console.log(`total: ${done} h1 cases + ${h2} h2 connections, ${((Date.now() - started) / 60_000).toFixed(1)} min, 0 violations`);
