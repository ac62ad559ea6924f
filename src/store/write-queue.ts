import type { LoggedEvent } from '../model/logged-event';

/** The most writes one batch takes; the rest wait for the next one. */
export const MAX_BATCH = 256;

/** One write waiting for its batch: the work, and how its caller is answered. */
export interface QueuedWrite {
  run(events: LoggedEvent[]): unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
  /** When it stops waiting for a lock held elsewhere and fails (Date.now() ms). */
  deadline: number;
}

/** The pipeline's first stage: every write, of any kind, waits here in order and leaves in batches. */
export class WriteQueue {
  private items: QueuedWrite[] = [];

  get length(): number {
    return this.items.length;
  }

  push(item: QueuedWrite): void {
    this.items.push(item);
  }

  /** The oldest writes, at most MAX_BATCH: one transaction's worth. */
  nextBatch(): QueuedWrite[] {
    return this.items.splice(0, MAX_BATCH);
  }

  /** A batch that could not begin goes back to the head, in order. */
  putBack(batch: QueuedWrite[]): void {
    this.items.unshift(...batch);
  }

  /** Fails the writes whose deadline has passed; returns the first deadline left (the queue is in deadline order), if any. */
  expire(now: number, failure: unknown): number | undefined {
    let kept = 0;
    for (const item of this.items) {
      if (item.deadline <= now) item.reject(failure);
      else this.items[kept++] = item;
    }
    this.items.length = kept;
    return this.items[0]?.deadline;
  }
}
