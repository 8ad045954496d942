#!/usr/bin/env node
// `node bench/log-write.mjs [--rounds 6] [--n 3000]` (after `npm run build`): what writing the
// access log's batches costs the edge's process, CPU µs per 4 KB batch (user + system), with
// stdout a file and a pipe that another process drains. Three ways, interleaved per round
// (A B C, C B A, …), each in a fresh child process: pino's asynchronous destination (a libuv
// thread-pool write per batch, what src/log.ts used before FdSink), FdSink (src/log-batch.ts:
// write(2) on the event loop), and no write at all (the loop alone). One batch per event-loop
// turn, as a busy edge hands on a batch every ~10 requests. Reported: median (min–max) per way,
// and the per-round ratio FdSink ÷ thread pool.
import { spawn } from 'node:child_process';
import { openSync, closeSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate } from 'node:timers';
import { parseArgs } from 'node:util';

const WAYS = ['threadpool', 'fdsink', 'none'];

if (process.argv[2] === '--child') {
  const [way, count] = [process.argv[3], Number(process.argv[4])];
  const batch = `${'x'.repeat(340)}\n`.repeat(11);
  let write = () => undefined;
  if (way === 'threadpool') {
    const { pino } = await import('pino');
    const d = pino.destination({ sync: false, maxWrite: 4096 });
    write = (b) => d.write(b);
  } else if (way === 'fdsink') {
    const { FdSink } = await import('../dist/log-batch.js');
    const sink = new FdSink(1);
    write = (b) => sink.write(b);
  }
  const start = process.cpuUsage();
  let i = 0;
  const tick = () => {
    write(batch);
    if (++i < count) return setImmediate(tick);
    // Let the last writes complete (a thread-pool write is charged when it runs), then report.
    setTimeout(() => {
      const used = process.cpuUsage(start);
      process.stderr.write(`${JSON.stringify({ way, us: (used.user + used.system) / count })}\n`);
    }, 200);
  };
  tick();
} else {
  const { values } = parseArgs({ options: { rounds: { type: 'string', default: '6' }, n: { type: 'string', default: '3000' } } });
  const dir = mkdtempSync(join(tmpdir(), 'log-write-'));
  const once = (way, target) => new Promise((resolve, reject) => {
    const fd = target === 'file' ? openSync(join(dir, `${way}.log`), 'w') : 'pipe';
    const child = spawn(process.execPath, [import.meta.filename, '--child', way, values.n], { stdio: ['ignore', fd, 'pipe'] });
    if (typeof fd === 'number') closeSync(fd);
    child.stdout?.resume();
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const guard = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('exit', (code) => {
      clearTimeout(guard);
      if (code !== 0) reject(new Error(`${way} on a ${target}: exit ${code}\n${err}`));
      else resolve(JSON.parse(err.trim().split('\n').at(-1)).us);
    });
  });
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const spread = (xs) => `${median(xs).toFixed(1)} (${Math.min(...xs).toFixed(1)}–${Math.max(...xs).toFixed(1)})`;
  try {
    for (const target of ['file', 'pipe']) {
      const got = Object.fromEntries(WAYS.map((w) => [w, []]));
      for (let r = 0; r < Number(values.rounds); r++) {
        for (const way of r % 2 === 0 ? WAYS : [...WAYS].reverse()) got[way].push(await once(way, target));
      }
      const ratios = got.fdsink.map((x, i) => x / got.threadpool[i]);
      console.log(`stdout a ${target}: µs of CPU per batch: ${WAYS.map((w) => `${w} ${spread(got[w])}`).join(', ')}; fdsink ÷ threadpool ${median(ratios).toFixed(3)} (${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)})`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
