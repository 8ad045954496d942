// LineBatch on its own: lines reach the sink in batches, and no line waits past the batch delay
// however batches were handed on before it (by size, by the timer, by flush).
import t, { type Test } from 'tap';
import { BATCH_CHARS, LineBatch } from '../src/log-batch.js';

class Captured {
  writes: string[] = [];
  write(data: string): boolean {
    this.writes.push(data);
    return true;
  }
  flush(cb?: (err?: Error) => void): void {
    if (cb !== undefined) process.nextTick(cb);
  }
  flushSync(): void {}
  get text(): string {
    return this.writes.join('');
  }
}

/** Resolves once `sink` has received `line`; fails the test after `ms`. */
async function arrives(t: Test, sink: Captured, line: string, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!sink.text.includes(line)) {
    if (Date.now() > deadline) {
      t.fail(`"${line.trim()}" did not reach the sink within ${ms} ms`);
      return;
    }
    await new Promise((r) => setTimeout(r, 5));
  }
  t.pass(`"${line.trim()}" arrived`);
}

t.test('a lone line goes by the timer; after a batch went for its size, the next line still goes by the timer, and again after that', async (t) => {
  const sink = new Captured();
  const batch = new LineBatch(sink);
  batch.write('first\n');
  await arrives(t, sink, 'first\n');
  const long = `${'x'.repeat(99)}\n`;
  for (let i = 0; i < Math.ceil(BATCH_CHARS / long.length) + 1; i++) batch.write(long);
  t.equal(sink.writes.length, 2, 'the lines past BATCH_CHARS went as one batch at once');
  t.ok((sink.writes[1] as string).length <= BATCH_CHARS, 'a batch is at most BATCH_CHARS');
  batch.write('after-size\n');
  await arrives(t, sink, 'after-size\n');
  batch.write('after-timer\n');
  await arrives(t, sink, 'after-timer\n');
  batch.write('after-flush-1\n');
  batch.flush();
  t.ok(sink.text.endsWith('after-flush-1\n'), 'flush hands the batch on at once');
  batch.write('after-flush-2\n');
  await arrives(t, sink, 'after-flush-2\n');
  t.equal(sink.text.split('\n').filter((l) => l !== '' && !l.startsWith('x')).length, 5, 'every line once');
});
