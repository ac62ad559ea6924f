// A consumer group's progress writes: the acked position, acks above it, delivery counts of
// redeliveries and dead letters, gathered and written in batches (one per group commit of the store
// at most, riding it with every other write), retried when a write fails, and each member told which
// of its acks are durable once they are. This module owns the batch and the committed position.
import type { ConsumerProgress, ConsumerRepository, DeadLetterRecord } from '../model/consumer';
import type { MemberState } from './consumer-members';

/** How long a failed progress write waits before it is tried again, in ms. */
const FLUSH_RETRY_MS = 200;

interface Taken {
  batch: ConsumerProgress;
  confirmations: { state: MemberState; acked: number[] }[];
}

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
  /** A write asked for whose transaction has not taken the batch yet. */
  private queued = false;
  private readonly writing = new Set<Promise<void>>();

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

  /**
   * Asks for a write. It joins the store's next group commit at once (no turn of its own), and takes
   * what has been gathered when that commit runs: the acks of every member of this consumer made
   * until then, beside the other consumers' and the task writes of that commit. A write asked for
   * while another is on its way to disk goes into the next commit (the WAL sync of one covers both).
   */
  schedule(): void {
    if (this.queued) return;
    this.queued = true;
    let taken: Taken | undefined;
    const write = this.repository
      .saveProgress(this.name, () => {
        this.queued = false;
        taken = this.take();
        return taken.batch;
      })
      .then(
        () => {
          if (!taken) return;
          this.committedFloor = Math.max(this.committedFloor, taken.batch.ackedSequence);
          this.hooks.committed(this.committedFloor);
          for (const { state, acked } of taken.confirmations) if (this.hooks.isJoined(state)) state.member.committed(acked, this.committedFloor);
        },
        (error: unknown) => {
          if (!taken)
            this.queued = false; // refused before its transaction: nothing was taken
          else this.giveBack(taken);
          this.warn({ consumer: this.name, err: error }, 'writing consumer progress failed; will retry');
          setTimeout(() => this.schedule(), FLUSH_RETRY_MS).unref();
        },
      )
      .finally(() => {
        this.writing.delete(write);
      });
    this.writing.add(write);
  }

  /** Resolves once every write asked for so far is done. */
  async flushed(): Promise<void> {
    for (let i = 0; i < 100 && this.writing.size > 0; i++) await Promise.all([...this.writing]);
  }

  /** Everything gathered since the last write, and the members' acks it makes durable. */
  private take(): Taken {
    const batch = {
      ackedSequence: Math.max(this.hooks.floor(), this.committedFloor),
      acks: this.acks,
      attempts: this.attempts,
      deadLetters: this.dead,
      removedDeadLetters: this.removedDead,
    };
    this.acks = [];
    this.attempts = new Map();
    this.dead = [];
    this.removedDead = [];
    return { batch, confirmations: this.hooks.takeConfirmations() };
  }

  /** Nothing of a failed write was written: it goes into the next write, which is tried again shortly. */
  private giveBack({ batch, confirmations }: Taken): void {
    this.acks = batch.acks.concat(this.acks);
    for (const [sequence, attempts] of batch.attempts) if (!this.attempts.has(sequence)) this.attempts.set(sequence, attempts);
    this.dead = batch.deadLetters.concat(this.dead);
    this.removedDead = batch.removedDeadLetters.concat(this.removedDead);
    for (const { state, acked } of confirmations) state.acked.unshift(...acked);
  }
}
