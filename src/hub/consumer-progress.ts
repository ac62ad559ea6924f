// A consumer group's progress writes: the acked position, acks above it, delivery counts of
// redeliveries and dead letters, gathered and written in batches (one per turn of the event loop at
// most, through the store's group commit), retried when a write fails, and each member told which
// of its acks are durable once they are. This module owns the batch and the committed position.
import type { ConsumerRepository, DeadLetterRecord } from '../model/consumer';
import type { MemberState } from './consumer-members';

/** How long a failed progress write waits before it is tried again, in ms. */
const FLUSH_RETRY_MS = 200;

export interface ProgressHooks {
  /** Every matching event up to here is acked or dead (what the next write records). */
  floor(): number;
  /** The members' acks waiting for confirmation, taken for this write. */
  takeConfirmations(): { state: MemberState; acked: number[] }[];
  /** Whether the member is still joined (confirmations go only to members still there). */
  isJoined(state: MemberState): boolean;
  /** A write up to `floor` is durable. */
  committed(floor: number): void;
}

export class ConsumerProgressWriter {
  private acks: number[] = [];
  private attempts = new Map<number, number>();
  private dead: DeadLetterRecord[] = [];
  private removedDead: number[] = [];
  private scheduled = false;
  private flushing: Promise<void> | undefined;
  private again = false;

  constructor(
    private readonly name: string,
    private readonly repository: ConsumerRepository,
    private readonly warn: (fields: object, message: string) => void,
    private committedFloor: number,
    private readonly hooks: ProgressHooks,
  ) {}

  /** The position as written last (what retention must keep above). */
  get committed(): number {
    return this.committedFloor;
  }

  /** Dead letters made and not yet written. */
  get unwrittenDeadLetters(): number {
    return this.dead.length;
  }

  ack(sequence: number): void {
    this.acks.push(sequence);
  }

  /** The event's delivery count, kept so max_deliver holds across restarts. */
  attempted(sequence: number, attempts: number): void {
    this.attempts.set(sequence, attempts);
  }

  deadLetter(record: DeadLetterRecord): void {
    this.attempts.delete(record.sequence);
    this.dead.push(record);
  }

  /** A redriven dead letter acked: its record goes. */
  removeDeadLetter(sequence: number): void {
    this.removedDead.push(sequence);
  }

  /** A redriven dead letter dead again: its record stays (replaced by the new one). */
  keepDeadLetter(sequence: number): void {
    this.removedDead = this.removedDead.filter((s) => s !== sequence);
  }

  schedule(): void {
    if (this.flushing) {
      this.again = true;
      return;
    }
    if (this.scheduled) return;
    this.scheduled = true;
    // Acks sent in the same turn (and other consumers' in the same group commit) share one write.
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Resolves once every write asked for so far is done. */
  async flushed(): Promise<void> {
    for (let i = 0; i < 100 && (this.flushing || this.scheduled); i++) {
      if (this.flushing) await this.flushing;
      else await new Promise((resolve) => setImmediate(resolve));
    }
  }

  private flush(): void {
    const floor = Math.max(this.hooks.floor(), this.committedFloor);
    const confirmations = this.hooks.takeConfirmations();
    if (floor === this.committedFloor && this.acks.length === 0 && this.attempts.size === 0 && this.dead.length === 0 && this.removedDead.length === 0) {
      for (const { state, acked } of confirmations) state.member.committed(acked, floor);
      return;
    }
    const batch = { ackedSequence: floor, acks: this.acks, attempts: this.attempts, deadLetters: this.dead, removedDeadLetters: this.removedDead };
    this.acks = [];
    this.attempts = new Map();
    this.dead = [];
    this.removedDead = [];
    this.flushing = this.repository
      .saveProgress(this.name, batch)
      .then(
        () => {
          this.committedFloor = floor;
          this.hooks.committed(floor);
          for (const { state, acked } of confirmations) if (this.hooks.isJoined(state)) state.member.committed(acked, floor);
        },
        (error: unknown) => {
          // Nothing of it was written: it goes into the next write, which is tried again shortly.
          this.acks = batch.acks.concat(this.acks);
          for (const [sequence, attempts] of batch.attempts) if (!this.attempts.has(sequence)) this.attempts.set(sequence, attempts);
          this.dead = batch.deadLetters.concat(this.dead);
          this.removedDead = batch.removedDeadLetters.concat(this.removedDead);
          for (const { state, acked } of confirmations) state.acked.unshift(...acked);
          this.warn({ consumer: this.name, err: error }, 'writing consumer progress failed; will retry');
          this.again = false;
          setTimeout(() => this.schedule(), FLUSH_RETRY_MS).unref();
        },
      )
      .finally(() => {
        this.flushing = undefined;
        if (this.again) {
          this.again = false;
          this.schedule();
        }
      });
  }
}
