import fs from 'node:fs';
import type { EventLog } from './event-log';

/** How the log watcher polls: fast while the files change, slow once they have been still a while. */
export interface LogWatchOptions {
  /** The database file; its -wal is watched (inotify) for the writes of other processes. */
  file: string;
  /** The poll interval while the -wal changes, and the longest a commit waits to be seen then. */
  activeMs: number;
  /** The poll interval once nothing has changed for `quietAfterMs`: the bound where no file event comes. */
  idleMs: number;
  quietAfterMs: number;
}

export interface LogWatch {
  /** Whether it polls at the idle interval now (the -wal still for `quietAfterMs`). */
  readonly idle: boolean;
  stop(): void;
}

export const DEFAULT_LOG_WATCH: Readonly<Omit<LogWatchOptions, 'file'>> = { activeMs: 5, idleMs: 100, quietAfterMs: 1000 };

/**
 * Calls `onChange` when another process has committed to the database. SQLite's data_version only
 * moves for other connections' commits, so this process's own writes (already published) cost one
 * cheap pragma per tick. A commit writes the -wal before it updates the -shm index that
 * data_version reads, so a file event starts polling every `activeMs` rather than one look: the
 * next tick sees the commit. An idle server then wakes every `idleMs`, not every `activeMs`. Where
 * the -wal cannot be watched, it polls every `activeMs` always.
 */
export function watchLog(log: Pick<EventLog, 'dataVersion'>, options: LogWatchOptions, onChange: () => void): LogWatch {
  // No starting value: the first tick always looks, so a commit made before the watch began is not missed.
  let version: number | undefined;
  let lastActivity = Date.now();
  let watching = false;
  let timer: NodeJS.Timeout | undefined;
  let asleep = false;
  let stopped = false;

  const look = () => {
    const current = log.dataVersion();
    if (current === version) return;
    version = current;
    lastActivity = Date.now();
    onChange();
  };
  const schedule = (ms: number) => {
    timer = setTimeout(tick, ms);
    timer.unref();
  };
  const tick = () => {
    timer = undefined;
    if (stopped) return;
    look();
    asleep = watching && Date.now() - lastActivity >= options.quietAfterMs;
    schedule(asleep ? options.idleMs : options.activeMs);
  };
  const wake = () => {
    lastActivity = Date.now();
    if (stopped || !asleep || timer === undefined) return;
    // Asleep on the idle interval: look now, and poll fast from then on.
    asleep = false;
    clearTimeout(timer);
    schedule(0);
  };

  let watcher: fs.FSWatcher | undefined;
  try {
    watcher = fs.watch(`${options.file}-wal`, { persistent: false }, (event) => {
      // A rename or removal ends the watch on this inode: poll fast, as without a watch.
      if (event === 'rename') unwatch();
      wake();
    });
    watcher.on('error', () => {
      unwatch();
      wake();
    });
    watching = true;
  } catch {
    // No -wal to watch, or no inotify watch left (ENOSPC): poll fast always.
  }
  function unwatch() {
    watching = false;
    watcher?.close();
    watcher = undefined;
  }

  schedule(0);
  return {
    get idle() {
      return asleep;
    },
    stop() {
      stopped = true;
      unwatch();
      if (timer !== undefined) clearTimeout(timer);
    },
  };
}
