import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/** A settled-change watcher; `close()` is idempotent and returns a promise. */
export interface SettledWatcher {
  /** Resolves once the initial scan is done: changes before that may go unseen. */
  readonly ready: Promise<void>;
  /** Replace the watched directories (e.g. after a symlink now points elsewhere). */
  retarget(dirs: readonly string[]): void;
  close(): Promise<void>;
}

/**
 * Watch paths — folders for certificates (renewals swap links and rename folders, which a file
 * watch misses — README "What it does, and why": Certificate renewal), the file itself for the config — and call `onSettled` once
 * events have stopped for `settleMs`. Any event counts, raw inotify ones included, so an
 * in-place rewrite that keeps its mtime is still noticed; the callback decides by content.
 * A watched path that is deleted and made again (new inode) is noticed by a cheap identity
 * check every `identityMs` and watched afresh — no watch on the parent folder, which may be busy.
 */
export function watchSettled(dirs: readonly string[], settleMs: number, onSettled: (firstEventAt: number) => void, relevant: (name: string) => boolean = () => true, identityMs = 500): SettledWatcher {
  let current = new Set(dirs);
  // Only names that matter: a log file written next to the config must not wake us per line.
  const matters = (path: string): boolean => current.has(path) || relevant(basename(path));
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let first = 0;
  const poke = (): void => {
    if (closed) return;
    if (first === 0) first = performance.now();
    clearTimeout(timer);
    timer = setTimeout(() => {
      const at = first;
      first = 0;
      onSettled(at);
    }, settleMs);
  };
  const watcher: FSWatcher = watch([...current], {
    ignoreInitial: true, depth: 0, followSymlinks: false, persistent: true,
    ignored: (path: string) => !matters(path) && ![...current].some((d) => d.startsWith(`${path}/`)),
  });
  watcher.on('all', (_event: string, path: string) => { if (matters(path)) poke(); });
  watcher.on('raw', (_event: string, name: string | null) => { if (name === null || relevant(basename(name))) poke(); });
  watcher.on('error', () => poke());
  const ready = new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  const identities = new Map<string, string>();
  const identity = async (path: string): Promise<string> => {
    try {
      const s = await stat(path);
      return `${s.dev}:${s.ino}`;
    } catch {
      return 'missing';
    }
  };
  void ready.then(async () => {
    for (const path of current) identities.set(path, await identity(path));
  });
  const check = setInterval(() => {
    void Promise.all([...current].map(async (path) => {
      const now = await identity(path);
      const before = identities.get(path);
      identities.set(path, now);
      if (before === undefined || before === now || closed) return;
      if (now !== 'missing') {
        // Re-created: the old inotify watch died with the old inode.
        await watcher.unwatch(path);
        watcher.add(path);
      }
      poke();
    }));
  }, identityMs);
  check.unref();
  return {
    ready,
    retarget(next) {
      const wanted = new Set(next);
      const gone = [...current].filter((d) => !wanted.has(d));
      const added = [...wanted].filter((d) => !current.has(d));
      if (gone.length > 0) watcher.unwatch(gone);
      if (added.length > 0) watcher.add(added);
      current = wanted;
    },
    async close() {
      if (closed) return;
      closed = true;
      clearTimeout(timer);
      clearInterval(check);
      await watcher.close();
    },
  };
}
