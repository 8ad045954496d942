import { mkdirSync, readdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, gzipSync } from 'node:zlib';
import { tempDir } from './edge.js';

type Tap = { teardown(fn: () => unknown): void };

export const SECRET = 'TOP-SECRET-OUTSIDE-ROOT';

export interface Tree {
  readonly dir: string;
  readonly root: string;
  /** 3 MB of a repeating, position-dependent pattern (ranges are checkable byte for byte). */
  readonly big: Buffer;
}

/**
 * A document root with every shape the file tests need: plain files, an index, a dot file and
 * .well-known, precompressed siblings, symlinks inside and out of the root, and a secret beside it.
 */
export function makeTree(t: Tap): Tree {
  const dir = tempDir(t, 'gatehouse-files-');
  const root = join(dir, 'public');
  mkdirSync(join(root, 'sub', 'empty'), { recursive: true });
  mkdirSync(join(root, '.well-known'), { recursive: true });
  mkdirSync(join(root, '.git'), { recursive: true });
  writeFileSync(join(dir, 'secret.txt'), SECRET);
  writeFileSync(join(dir, '.env'), SECRET);
  writeFileSync(join(root, '.env'), SECRET);
  writeFileSync(join(root, '.git', 'config'), SECRET);
  writeFileSync(join(root, '.well-known', 'security.txt'), 'Contact: mailto:sec@example.com\n');
  writeFileSync(join(root, 'index.html'), '<h1>home</h1>\n');
  writeFileSync(join(root, 'about.html'), '<h1>about</h1>\n');
  writeFileSync(join(root, 'sub', 'index.html'), '<h1>sub</h1>\n');
  writeFileSync(join(root, '100%.txt'), 'percent\n');
  const js = `${'console.log("gatehouse");\n'.repeat(200)}`;
  writeFileSync(join(root, 'app.js'), js);
  writeFileSync(join(root, 'app.js.br'), brotliCompressSync(js));
  writeFileSync(join(root, 'app.js.gz'), gzipSync(js));
  writeFileSync(join(root, 'data.json'), JSON.stringify({ items: Array.from({ length: 200 }, (_, i) => ({ i, name: `item ${i}` })) }));
  const big = Buffer.alloc(3 * 1024 * 1024);
  for (let i = 0; i < big.length; i++) big[i] = (i * 7 + (i >> 11)) & 0xff;
  writeFileSync(join(root, 'big.bin'), big);
  symlinkSync(join(dir, 'secret.txt'), join(root, 'link-out.txt'));
  symlinkSync(dir, join(root, 'dir-out'));
  symlinkSync('/etc/passwd', join(root, 'passwd'));
  symlinkSync(join(root, '.env'), join(root, 'dot-link.txt'));
  symlinkSync(join(root, 'about.html'), join(root, 'link-in.html'));
  return { dir, root, big };
}

/** Open file descriptors of this process (the in-process edge's included). */
export function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/**
 * This process's descriptors open on files under `root`: what a leak of a served file would hold
 * (sockets and Node's own descriptors come and go with the runtime, so they are not counted).
 */
export function servedOpen(root: string): string[] {
  return readdirSync('/proc/self/fd').flatMap((fd) => {
    try {
      const target = readlinkSync(`/proc/self/fd/${fd}`);
      return target.startsWith(root) ? [target] : [];
    } catch {
      return [];
    }
  });
}

/** Wait until `check` holds, at most `ms`; false if it never did. */
export async function until(check: () => boolean, ms = 3000): Promise<boolean> {
  for (const start = Date.now(); Date.now() - start < ms; await new Promise((r) => setTimeout(r, 25))) {
    if (check()) return true;
  }
  return check();
}
