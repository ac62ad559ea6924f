import type { EventLog } from './event-log';

/**
 * Calls `onChange` within `intervalMs` of another process committing to the database. SQLite's
 * data_version only moves for other connections' commits, so this process's own writes (already
 * published) cost one cheap pragma per tick.
 */
export function watchLog(log: EventLog, intervalMs: number, onChange: () => void): () => void {
  // No starting value: the first tick always looks, so a commit made before the watch began is not missed.
  let version: number | undefined;
  const timer = setInterval(() => {
    const current = log.dataVersion();
    if (current === version) return;
    version = current;
    onChange();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
