// `rig backup`: a copy of a live database as of one point in time, made with SQLite's online backup
// API from this process's own connection, so a server writing the file meanwhile is not held up.
// The copy is written to a temporary file beside the target and put in place only when it is
// complete and has passed integrity_check: a failed or interrupted backup leaves no partial file.
import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';
import { sqlite, type SqliteDatabase } from './database';
import { latestSequence } from './rows';
import { WAL_HOLD_BYTES } from './write-pipeline';

/**
 * Pages copied per backup step (4 MiB at SQLite's default 4 KiB page). The whole copy runs inside one
 * read transaction (that is what makes it one point in time: without it, every commit by another
 * process restarts the copy from page 1, and under steady writes it never ends), and in WAL mode a
 * reader takes no lock a writer waits for; what the copy holds back is checkpoints, which cannot
 * move past its snapshot, so the WAL grows until it ends. A step therefore shortens no lock; it is
 * how often we look at that growth and let a signal in. 1024 pages is a few ms per step, often
 * enough for both, and 250 steps a GB keeps the per-step cost (a setImmediate) negligible.
 */
const PAGES_PER_STEP = 1024;

/**
 * The copy gives up when the server's WAL reaches this size: at WAL_HOLD_BYTES the server starts
 * holding its writes back (task-store.ts), and they fail UNAVAILABLE after the busy timeout. 8 MB
 * below that leaves room for the writes committing while the step finishes.
 */
const WAL_GIVE_UP_BYTES = WAL_HOLD_BYTES - 8 * 1024 * 1024;

export interface BackupReport {
  /** The backup file, as an absolute path. */
  file: string;
  /** The database that was copied. */
  source: string;
  tasks: number;
  events: number;
  /** The newest sequence in the copy (0 for an empty log): the point in time it holds. */
  last_sequence: number;
  /** The oldest event the copy still holds (compaction dropped older ones), or null when it holds none. */
  oldest_sequence: number | null;
  bytes: number;
  /** integrity_check's verdict on the copy; always "ok" in a report (anything else fails the backup). */
  integrity: string;
  ms: number;
}

export interface BackupOptions {
  /** Replace `target` when it exists. */
  force?: boolean;
}

/**
 * Copies the open database `source` (its file is `sourceFile`) to `target`. Refuses an existing
 * target unless `force`, a missing directory, and the source's own files.
 */
export async function backupDatabase(source: SqliteDatabase, sourceFile: string, target: string, options: BackupOptions = {}): Promise<BackupReport> {
  const started = Date.now();
  const file = path.resolve(target);
  checkTarget(file, sourceFile, options.force === true);
  const temp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const removeTemp = () => {
    for (const suffix of ['', '-journal', '-wal', '-shm']) fs.rmSync(`${temp}${suffix}`, { force: true });
  };
  // Interrupted (Ctrl-C, kill): no temporary file left behind. SIGKILL can still leave one; its
  // name starts with a dot and ends .tmp, and the next backup to the same target overwrites it.
  const onSignal = (signal: NodeJS.Signals) => {
    removeTemp();
    process.exit(signal === 'SIGINT' ? 130 : 143);
  };
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
  try {
    removeTemp();
    // Created 0600 before SQLite opens it: SQLite keeps an existing file's mode, and gives its
    // journal the same one.
    fs.writeFileSync(temp, '', { flag: 'wx', mode: 0o600 });
    fs.chmodSync(temp, 0o600);
    const head = await copySnapshot(source, sourceFile, temp);
    const counts = checkCopy(temp);
    if (counts.last_sequence !== head) {
      throw new RiggerError(
        'internal',
        `the backup holds events up to ${counts.last_sequence}, but its snapshot was at ${head}; nothing was written to ${file}`,
      );
    }
    syncFile(temp);
    placeCopy(temp, file, options.force === true);
    syncDirectory(path.dirname(file));
    return { file, source: sourceFile, ...counts, bytes: fs.statSync(file).size, integrity: 'ok', ms: Date.now() - started };
  } finally {
    removeTemp();
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
}

function checkTarget(file: string, sourceFile: string, force: boolean): void {
  const dir = path.dirname(file);
  const dirStat = fs.statSync(dir, { throwIfNoEntry: false });
  if (!dirStat?.isDirectory()) throw new RiggerError('not_found', `cannot back up to ${file}: directory ${dir} does not exist`);
  const existing = fs.statSync(file, { throwIfNoEntry: false });
  if (!existing) return;
  if (existing.isDirectory()) throw new RiggerError('invalid_argument', `cannot back up to ${file}: it is a directory; name a file in it`);
  // Renaming over the database (or its WAL) that servers have open is the "replaced database" case.
  for (const suffix of ['', '-wal', '-shm']) {
    const own = fs.statSync(`${sourceFile}${suffix}`, { throwIfNoEntry: false });
    if (own && own.dev === existing.dev && own.ino === existing.ino) {
      throw new RiggerError(
        'invalid_argument',
        `cannot back up to ${file}: it is the database being backed up${suffix && ` (its ${suffix.slice(1).toUpperCase()})`}; name another file`,
      );
    }
  }
  if (!force) throw new RiggerError('invalid_argument', `${file} already exists; nothing was written (pass --force to replace it)`);
}

/** Runs the backup API inside one read transaction of `source`; returns the last sequence of that snapshot. */
async function copySnapshot(source: SqliteDatabase, sourceFile: string, temp: string): Promise<number> {
  source.exec('BEGIN');
  try {
    // The first read takes the snapshot: every step below copies the database as of this moment.
    const head = latestSequence(source);
    await source.backup(temp, {
      progress: () => {
        // A stat of the server's WAL, never an open: closing a descriptor of a database file would drop
        // this process's locks on it (open-files.ts), the read mark that holds the snapshot included.
        const wal = fs.statSync(`${sourceFile}-wal`, { throwIfNoEntry: false })?.size ?? 0;
        if (wal >= WAL_GIVE_UP_BYTES) {
          throw new RiggerError(
            'unavailable',
            `backup stopped: the write-ahead log ${sourceFile}-wal reached ${Math.round(wal / 1024 / 1024)} MB while the copy held its snapshot (checkpoints wait for it), and the server would soon hold its writes back; nothing was written, try again when writes are lighter`,
          );
        }
        return PAGES_PER_STEP;
      },
    });
    return head;
  } finally {
    if (source.inTransaction) source.exec('COMMIT');
  }
}

/**
 * Makes the copy one self-contained file (journal_mode DELETE: the backup API copies the source's
 * WAL flag, and a WAL file needs -wal and -shm beside it when opened), checks it and counts it.
 */
export function checkCopy(temp: string): Pick<BackupReport, 'tasks' | 'events' | 'last_sequence' | 'oldest_sequence'> {
  const Sqlite = sqlite();
  const copy = new Sqlite(temp, { fileMustExist: true });
  try {
    copy.pragma('journal_mode = DELETE');
    // integrity_check, not quick_check: it also checks every index against its table, and it reads
    // the copy, not the server's file (about 1.3 s a GB when cached).
    const problems = (copy.pragma('integrity_check(5)') as { integrity_check: string }[]).map((r) => r.integrity_check);
    if (problems.join() !== 'ok') {
      throw new RiggerError('internal', `the backup failed integrity_check (${problems.join('; ').slice(0, 200)}); nothing was written`);
    }
    const count = (table: string) => copy.prepare(`SELECT count(*) FROM ${table}`).pluck().get() as number;
    return {
      tasks: count('tasks'),
      events: count('events'),
      last_sequence: latestSequence(copy),
      oldest_sequence: (copy.prepare('SELECT min(sequence) FROM events').pluck().get() as number | null) ?? null,
    };
  } finally {
    copy.close();
  }
}

/** Puts the finished copy at `file`: rename (replacing) with --force, else a link, which fails if `file` appeared meanwhile. */
function placeCopy(temp: string, file: string, force: boolean): void {
  if (force) {
    fs.renameSync(temp, file);
    return;
  }
  try {
    fs.linkSync(temp, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new RiggerError('invalid_argument', `${file} already exists; nothing was written (pass --force to replace it)`);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EXDEV') throw error;
    // A file system without hard links: check, then rename (not atomic against another writer).
    if (fs.existsSync(file)) throw new RiggerError('invalid_argument', `${file} already exists; nothing was written (pass --force to replace it)`);
    fs.renameSync(temp, file);
  }
}

export function syncFile(file: string): void {
  const fd = fs.openSync(file, 'r+');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

export function syncDirectory(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    fs.closeSync(fd);
  }
}
