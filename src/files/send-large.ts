import { close, read } from 'node:fs';
import type { ServerResponse } from 'node:http';

const CHUNK = 64 * 1024;

/**
 * An h1 body larger than one read, from `fd` through two 64 KB buffers used in turn: the next read
 * fills one while the other is written, and a buffer is read into again only once its write
 * completed (that wait is the backpressure). A fresh buffer per read, as a ReadStream allocates,
 * cost as much CPU as the TLS encryption of the bytes (bench/RESULTS.md, "Serving files faster").
 * The descriptor is closed once, when the answer ends or the client leaves and no read is in flight.
 */
export function sendLarge(res: ServerResponse, fd: number, start: number, length: number): Promise<{ bytes: number; aborted: boolean }> {
  return new Promise((resolve) => {
    const size = Math.min(CHUNK, length);
    const buffers = [Buffer.allocUnsafe(size), Buffer.allocUnsafe(size)] as const;
    const free = [true, true];
    let sent = 0;
    let waiting = -1;
    let reading = false;
    let outcome: { bytes: number; aborted: boolean } | undefined;
    const finish = (aborted: boolean): void => {
      if (outcome !== undefined) return;
      outcome = { bytes: sent, aborted };
      if (!reading) close(fd, () => undefined);
      resolve(outcome);
    };
    res.once('close', () => finish(!res.writableFinished));
    res.once('finish', () => finish(false));
    const fill = (i: 0 | 1): void => {
      const buffer = buffers[i];
      reading = true;
      read(fd, buffer, 0, Math.min(size, length - sent), start + sent, (err, n) => {
        reading = false;
        if (outcome !== undefined) return void close(fd, () => undefined);
        // A file that shrank while it was read: the length promised cannot be kept.
        if (err !== null || n === 0) return void res.destroy();
        sent += n;
        free[i] = false;
        const last = sent >= length;
        res.write(n === buffer.length ? buffer : buffer.subarray(0, n), () => {
          free[i] = true;
          if (waiting === i) {
            waiting = -1;
            fill(i);
          }
        });
        if (last) return void res.end();
        const j = i === 0 ? 1 : 0;
        if (free[j] === true) fill(j);
        else waiting = j;
      });
    };
    fill(0);
  });
}
