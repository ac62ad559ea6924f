// A checkpoint file holds the last sequence a sidecar has handled, as one decimal line. It is
// replaced atomically (write a temp file, fsync it, rename it over the old one, fsync the folder),
// so after a crash it holds either the old or the new number, never a torn one.
import fs from 'node:fs';
import path from 'node:path';
import { RiggerError } from '../model/errors';

/** The sequence stored in `file`, or undefined when the file does not exist. */
export function readCheckpoint(file: string): number | undefined {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  const sequence = Number(text.trim());
  if (text.trim() === '' || !Number.isSafeInteger(sequence) || sequence < 0) {
    throw new RiggerError(
      'invalid_argument',
      `checkpoint file ${file} holds ${JSON.stringify(text.slice(0, 40))}, not a sequence number; fix it or delete it to start from the live stream`,
    );
  }
  return sequence;
}

export async function writeCheckpoint(file: string, sequence: number): Promise<void> {
  const temp = `${file}.${process.pid}.tmp`;
  const handle = await fs.promises.open(temp, 'w');
  try {
    await handle.writeFile(`${sequence}\n`);
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
 * sequences handled meanwhile are coalesced into the next write. flush() waits until the file holds
 * the newest handled sequence.
 */
export class CheckpointWriter {
  private written: number | undefined;
  private wanted: number | undefined;
  private inFlight: Promise<void> | undefined;
  private failure: unknown;

  /** `onError` hears of a failed write (disk full, folder gone) once, when it happens. */
  constructor(readonly file: string, initial: number | undefined, private readonly onError: (error: unknown) => void) {
    this.written = initial;
  }

  /** Records that every event up to `sequence` has been handled. */
  advance(sequence: number): void {
    if (this.failure !== undefined) return;
    if (this.wanted !== undefined && sequence <= this.wanted) return;
    if (this.wanted === undefined && this.written !== undefined && sequence <= this.written) return;
    this.wanted = sequence;
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
