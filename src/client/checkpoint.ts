// A checkpoint file holds a sidecar's position: the last sequence it has handled and the log
// identity that sequence is of, as one line ("42 3f9a2c1b7d4e6f80"). A file holding a bare sequence
// (written before logs had identities) is read as a position of LEGACY_LOG_ID. It is replaced
// atomically (write a temp file, fsync it, rename it over the old one, fsync the folder), so after a
// crash it holds either the old or the new position, never a torn one.
import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';
import { LEGACY_LOG_ID, LOG_ID_PATTERN, type LogPosition } from '../model/log-lineage';

/** The position stored in `file`, or undefined when the file does not exist. */
export function readCheckpoint(file: string): LogPosition | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const [first, logId = LEGACY_LOG_ID, ...rest] = text.trim().split(/\s+/);
  const sequence = Number(first);
  if (first === '' || !Number.isSafeInteger(sequence) || sequence < 0 || rest.length > 0 || (logId !== LEGACY_LOG_ID && !LOG_ID_PATTERN.test(logId))) {
    throw new RiggerError(
      'invalid_argument',
      `checkpoint file ${file} holds ${JSON.stringify(text.slice(0, 60))}, not a position ("SEQUENCE LOG_ID", or a bare sequence); fix it or delete it to start from the live stream`,
    );
  }
  return { sequence, logId };
}

/** Writes `position` to `file` atomically; a legacy position is written as a bare sequence. */
export async function writeCheckpoint(file: string, position: LogPosition): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.promises.open(temp, 'w');
  try {
    await handle.writeFile(position.logId === LEGACY_LOG_ID ? `${position.sequence}\n` : `${position.sequence} ${position.logId}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await fs.promises.rename(temp, file);
  await syncDirectory(path.dirname(file));
}

async function syncDirectory(dir: string): Promise<void> {
  const handle = await fs.promises.open(dir, 'r');
  try {
    await handle.sync();
  } catch {
    // Some file systems refuse fsync on a directory; the rename is still atomic there.
  } finally {
    await handle.close();
  }
}

/**
 * Keeps a checkpoint file up to date without an fsync per event: at most one write is in flight;
 * positions handled meanwhile are coalesced into the next write. flush() waits until the file holds
 * the newest handled position.
 */
export class CheckpointWriter {
  private written: LogPosition | undefined;
  private wanted: LogPosition | undefined;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;

  /** `onError` hears of a failed write (disk full, folder gone) once, when it happens. */
  constructor(
    readonly file: string,
    initial: LogPosition | undefined,
    private readonly onError: (error: unknown) => void,
  ) {
    this.written = initial;
  }

  /**
   * Records that every event up to `position` has been handled. Within one log a position never
   * goes back; a position of another log (after a restore) replaces the old one.
   */
  advance(position: LogPosition): void {
    if (this.failure !== undefined) return;
    const last = this.wanted ?? this.written;
    if (last !== undefined && last.logId === position.logId && position.sequence <= last.sequence) return;
    this.wanted = position;
    if (!this.inFlight) this.inFlight = this.drain();
  }

  async flush(): Promise<void> {
    while (this.inFlight) await this.inFlight;
    if (this.failure !== undefined) throw this.failure;
  }

  private async drain(): Promise<void> {
    try {
      while (this.wanted !== undefined && this.wanted !== this.written) {
        const next = this.wanted;
        await writeCheckpoint(this.file, next);
        this.written = next;
      }
    } catch (error) {
      this.failure = error;
      this.wanted = undefined;
      this.onError(error);
    } finally {
      this.inFlight = undefined;
    }
  }
}
