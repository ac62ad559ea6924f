// The record a clean stop leaves beside the database (`tasks.clean-stop` next to `tasks.db`): the
// file's identity, size, modification and change times and its 100-byte SQLite header as the last
// connection left it, with no WAL. A start that finds the record, and the file still exactly so,
// need not read every page (quick_check): nothing wrote the file since a close that knew it whole.
// The record is taken away before anything writes, so a crash while the file is open leaves none.
import fs from 'node:fs';
import path from 'node:path';
import { isOpenDatabaseFile } from './open-files';

const RECORD_VERSION = 1;
const HEADER_BYTES = 100;

interface CleanStopRecord {
  version: number;
  file: string;
  dev: string;
  ino: string;
  size: string;
  mtimeNs: string;
  ctimeNs: string;
  /** The SQLite header in hex: its change counter (bytes 24..27), page count, schema cookie among it. */
  header: string;
  stoppedAt: string;
}

/** Whether the file is exactly as a clean stop left it, and if not why (one line, for the log and /readyz). */
export type CleanStopClaim = { clean: true } | { clean: false; reason: string };

/** Where the record of `file` lives: `tasks.db` -> `tasks.clean-stop`, in the same directory. */
export function cleanStopPath(file: string): string {
  return path.join(path.dirname(file), `${path.basename(file, '.db')}.clean-stop`);
}

/**
 * Takes the record away (a rename: of processes opening at once, one gets it) and says whether the
 * file is as it describes. Call before this process opens `file` with SQLite: it reads the header
 * through a descriptor of its own, whose close would drop SQLite's locks (open-files.ts).
 */
export function claimCleanStop(file: string): CleanStopClaim {
  const recordFile = cleanStopPath(file);
  const claimed = `${recordFile}.${process.pid}.claimed`;
  try {
    fs.renameSync(recordFile, claimed);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT')
      return { clean: false, reason: 'no clean-stop record: the last stop was not clean (a crash or kill), or the file is new to this rig' };
    return { clean: false, reason: `the clean-stop record could not be taken (${(error as Error).message})` };
  }
  let text: string;
  try {
    text = fs.readFileSync(claimed, 'utf8');
  } catch (error) {
    return { clean: false, reason: `the clean-stop record could not be read (${(error as Error).message})` };
  } finally {
    fs.rmSync(claimed, { force: true });
  }
  let record: CleanStopRecord;
  try {
    record = JSON.parse(text) as CleanStopRecord;
  } catch {
    return { clean: false, reason: 'the clean-stop record is not valid JSON' };
  }
  if (record.version !== RECORD_VERSION || record.file !== path.resolve(file))
    return { clean: false, reason: 'the clean-stop record is of another version or another file' };
  const now = describe(file);
  if (typeof now === 'string') return { clean: false, reason: now };
  for (const key of ['dev', 'ino', 'size', 'mtimeNs', 'ctimeNs', 'header'] as const) {
    if (now[key] !== record[key])
      return {
        clean: false,
        reason: `the file changed since the clean stop at ${record.stoppedAt} (its ${key === 'header' ? 'SQLite header' : key} differs): another program wrote or replaced it`,
      };
  }
  return { clean: true };
}

/**
 * Records a clean stop of `file` (the file `opened` describes, not one put at its path meanwhile),
 * after this process closed its last connection to it: only when no WAL is left, that is when this close was the last one anywhere (a -wal still there means
 * another process has the file open, or a crashed one left commits in it). Returns whether it did.
 */
export function recordCleanStop(file: string, opened: { dev: number; ino: number }): boolean {
  const stat = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  if (!stat || Number(stat.dev) !== opened.dev || Number(stat.ino) !== opened.ino) return false; // replaced or moved meanwhile
  if (walHoldsFrames(file) || isOpenDatabaseFile({ dev: Number(stat.dev), ino: Number(stat.ino) })) return false;
  // File times come from a coarse clock (a tick of up to 10 ms; whole seconds on some file systems):
  // once it has passed the last write, any later write gives the file another mtime.
  const granularityMs = stat.mtimeNs % 1_000_000_000n === 0n ? 2000 : 20;
  const waitMs = Number(stat.mtimeNs / 1_000_000n) + granularityMs - Date.now();
  if (waitMs > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, Math.min(waitMs, granularityMs));
  const now = describe(file);
  if (typeof now === 'string') return false;
  const record: CleanStopRecord = { version: RECORD_VERSION, file: path.resolve(file), ...now, stoppedAt: new Date().toISOString() };
  const recordFile = cleanStopPath(file);
  const temporary = `${recordFile}.${process.pid}.tmp`;
  try {
    const fd = fs.openSync(temporary, 'w', 0o600);
    try {
      fs.writeSync(fd, `${JSON.stringify(record)}\n`);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temporary, recordFile);
    return true;
  } catch {
    fs.rmSync(temporary, { force: true });
    return false; // no record: the next start checks every page, which is only slower
  }
}

/** Whether a -wal beside `file` holds anything (SQLite reads it as part of the database). */
export function walHoldsFrames(file: string): boolean {
  return (fs.statSync(`${file}-wal`, { throwIfNoEntry: false })?.size ?? 0) > 0;
}

/** The file as the record describes it, or why it cannot be described (a one-line reason). */
function describe(file: string): Omit<CleanStopRecord, 'version' | 'file' | 'stoppedAt'> | string {
  if (walHoldsFrames(file)) return 'a write-ahead log with commits in it is beside the file: another process wrote it, or is writing it';
  const stat = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  if (!stat) return 'the file does not exist';
  if (isOpenDatabaseFile({ dev: Number(stat.dev), ino: Number(stat.ino) })) return 'this process has the file open already';
  const header = Buffer.alloc(HEADER_BYTES);
  let read = 0;
  const fd = fs.openSync(file, 'r');
  try {
    read = fs.readSync(fd, header, 0, HEADER_BYTES, 0);
  } finally {
    fs.closeSync(fd);
  }
  return {
    dev: String(stat.dev),
    ino: String(stat.ino),
    size: String(stat.size),
    mtimeNs: String(stat.mtimeNs),
    ctimeNs: String(stat.ctimeNs),
    header: header.subarray(0, read).toString('hex'),
  };
}
