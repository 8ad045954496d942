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
 * Watch directories (not files: renewals swap links and rename directories, which a file watch
 * misses — see CERTS.md) and call `onSettled` once events have stopped for `settleMs`. Any
 * event counts, raw inotify ones included, so an in-place rewrite that keeps its mtime is
 * still noticed; the callback decides by content whether anything really changed.
 */
export function watchSettled(dirs: readonly string[], settleMs: number, onSettled: (firstEventAt: number) => void, relevant: (name: string) => boolean = () => true): SettledWatcher {
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
      await watcher.close();
    },
  };
}
