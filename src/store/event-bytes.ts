// The size of a stretch of the event log in bytes, for the retention hold's byte bound
// (consumer-registry.ts): the events' stored bytes (`encoded`, as delivered; the JSON of rows
// written before events were stored encoded), summed by SQLite without reading the values.
// Sums of whole blocks of BLOCK sequences are kept: an event is never changed once written, and a
// held stretch is never compacted, so each block is summed once however often the hold is looked at.
import type { Statement } from 'better-sqlite3';
import type { SqliteDatabase } from './database';

/** Sequences per cached block. */
const BLOCK = 1024;
/** Blocks summed in one call at most (about 16k rows, some 15 ms on a busy 2-core machine): the rest is counted on later calls. */
const BLOCKS_PER_CALL = 16;

export interface ByteCount {
  bytes: number;
  /** False when the stretch was larger than one call sums: `bytes` is then a lower bound. */
  complete: boolean;
}

export class EventBytes {
  private readonly sumRange: Statement<[number, number], { n: number | null }>;
  private readonly blocks = new Map<number, number>();

  constructor(db: SqliteDatabase) {
    this.sumRange = db.prepare(
      `SELECT sum(coalesce(length(encoded), length(task) + coalesce(length(previous_task), 0))) AS n FROM events WHERE sequence >= ? AND sequence < ?`,
    );
  }

  /** The bytes of the events with from <= sequence < to. */
  between(from: number, to: number): ByteCount {
    if (to <= from) return { bytes: 0, complete: true };
    const firstWhole = Math.ceil(from / BLOCK);
    const lastWhole = Math.floor(to / BLOCK); // blocks firstWhole .. lastWhole-1 lie wholly inside
    if (lastWhole <= firstWhole) return { bytes: this.sum(from, to), complete: true };
    let bytes = this.sum(from, firstWhole * BLOCK) + this.sum(lastWhole * BLOCK, to);
    let summed = 0;
    let complete = true;
    for (let block = firstWhole; block < lastWhole; block++) {
      let n = this.blocks.get(block);
      if (n === undefined) {
        if (summed >= BLOCKS_PER_CALL) {
          complete = false;
          continue;
        }
        n = this.sum(block * BLOCK, (block + 1) * BLOCK);
        this.blocks.set(block, n);
        summed++;
      }
      bytes += n;
    }
    return { bytes, complete };
  }

  /** Forgets the blocks below `sequence` (compacted, or no longer held). */
  forgetBelow(sequence: number): void {
    const below = Math.floor(sequence / BLOCK);
    for (const block of this.blocks.keys()) if (block < below) this.blocks.delete(block);
  }

  private sum(from: number, to: number): number {
    return to <= from ? 0 : (this.sumRange.get(from, to)?.n ?? 0);
  }
}
