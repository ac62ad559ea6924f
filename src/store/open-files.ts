// The files this process's open databases live in. A descriptor of one of them must never be
// opened and closed beside SQLite's own: closing any descriptor of a file drops every POSIX lock
// the process holds on it, SQLite's included, and another process's connection could then take
// itself for the last one and delete the WAL this one is still writing (docs/reliability.md).
import fs from 'node:fs';

const openFiles = new Set<string>();

/** Records `file` (and its -wal and -shm) as in use by an open connection until forgetDatabase. */
export function rememberDatabase(file: string): void {
  openFiles.add(file);
}

export function forgetDatabase(file: string): void {
  openFiles.delete(file);
}

/** Whether `stat` is one of the open databases' files (the database, its -wal or its -shm). */
export function isOpenDatabaseFile(stat: { dev: number; ino: number }): boolean {
  for (const file of openFiles) {
    for (const suffix of ['', '-wal', '-shm']) {
      const held = fs.statSync(`${file}${suffix}`, { throwIfNoEntry: false });
      if (held && held.dev === stat.dev && held.ino === stat.ino) return true;
    }
  }
  return false;
}
