import type { LoggedEvent } from '../model/logged-event';

/** The last `capacity` published events, contiguous by sequence: a hot cache of the log's tail. */
export class ReplayRing {
  private readonly slots: (LoggedEvent | undefined)[];
  private newest = 0;
  private count = 0;

  constructor(readonly capacity: number) {
    this.slots = new Array<LoggedEvent | undefined>(Math.max(1, capacity));
  }

  /** Appends the next event; its sequence must follow the newest one (or start a fresh run). */
  push(event: LoggedEvent): void {
    if (this.count > 0 && event.sequence !== this.newest + 1) this.count = 0;
    this.slots[event.sequence % this.slots.length] = event;
    this.newest = event.sequence;
    this.count = Math.min(this.count + 1, this.slots.length);
  }

  /** The oldest sequence held, or undefined when empty. */
  get oldest(): number | undefined {
    return this.count === 0 ? undefined : this.newest - this.count + 1;
  }

  /** Whether every event from `sequence` up to the newest is held. */
  covers(sequence: number): boolean {
    const oldest = this.oldest;
    return oldest !== undefined && sequence >= oldest;
  }

  /** Events from `from` on, at most `limit`; call only when covers(from). */
  slice(from: number, limit: number): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    const end = Math.min(this.newest, from + limit - 1);
    for (let s = from; s <= end; s++) out.push(this.slots[s % this.slots.length]!);
    return out;
  }
}
