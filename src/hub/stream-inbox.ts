// TaskEventStream's inbound side. Updates are started as they are read, up to `maxInFlight` at once,
// so a flood of them shares group commits; the write pipeline applies them in the order sent. Any
// other message takes effect only once every update before it has settled, and nothing is read
// meanwhile. The first failure in the order sent ends the stream; no update after it is applied.
import { RiggerError } from '../model/errors';

/** The part of a gRPC call the inbox drives: HTTP/2 flow control holds back what it does not read. */
export interface Pausable {
  pause(): unknown;
  resume(): unknown;
}

/** Runs an update's change inside its transaction, or refuses it if an earlier one failed or the stream ended. */
export type UpdateGuard = <T>(change: () => T) => T;

/** Never answered to anyone: it is only thrown after an earlier failure, which is what the stream ends with. */
const NOT_APPLIED = new RiggerError('unavailable', 'not applied: an earlier message of this TaskEventStream failed, or the stream ended');

export class StreamInbox {
  /** Settles once every message read so far has taken effect (or failed); never rejects. */
  private last: Promise<void> = Promise.resolve();
  private unsettled = 0;
  /** Messages other than updates that wait for the updates before them. */
  private blocking = 0;
  private reading = true;
  /** Set when an update fails or the stream ends: updates that have not run yet are refused. */
  private stopped = false;
  /** Set when an update was refused before it was queued: nothing read after it is looked at. */
  private refused = false;
  /** Set once a failure was reported or the stream ended: later messages do not take effect. */
  private ended = false;

  constructor(
    private readonly call: Pausable,
    private readonly maxInFlight: number,
    private readonly onFailure: (error: unknown) => void,
  ) {}

  /** `start` queues the update's write, running its change through the guard; it may throw for a bad request. */
  update(start: (guard: UpdateGuard) => Promise<unknown>): void {
    if (this.refused) return;
    let outcome: Promise<unknown>;
    try {
      outcome = start(this.guard);
    } catch (error) {
      // Refused before it was queued: the updates queued before it still run, none read after it starts.
      this.refused = true;
      this.chain(() => Promise.reject(error), false);
      return;
    }
    // A whole batch that failed never ran the guard; this runs before the pipeline's next batch does.
    outcome.catch(() => (this.stopped = true));
    this.chain(() => outcome, false);
  }

  /** Runs `apply` (which may throw) once every earlier message has taken effect; nothing is read until then. */
  inOrder(apply: () => void): void {
    if (!this.refused) this.chain(apply, true);
  }

  /** The stream ended: nothing more is read and updates that have not run are not applied. */
  close(): void {
    this.stopped = true;
    this.ended = true;
  }

  private readonly guard: UpdateGuard = (change) => {
    if (this.stopped) throw NOT_APPLIED;
    try {
      return change();
    } catch (error) {
      this.stopped = true; // the next update may run in this same transaction
      throw error;
    }
  };

  private chain(step: () => unknown, blocks: boolean): void {
    this.unsettled++;
    if (blocks) this.blocking++;
    this.updateReading();
    this.last = this.last
      .then(() => (this.ended ? undefined : step()))
      .then(undefined, (error: unknown) => {
        this.close();
        this.onFailure(error);
      })
      .then(() => {
        this.unsettled--;
        if (blocks) this.blocking--;
        this.updateReading();
      });
  }

  private updateReading(): void {
    if (this.ended) return;
    const shouldRead = !this.refused && this.unsettled < this.maxInFlight && this.blocking === 0;
    if (shouldRead === this.reading) return;
    this.reading = shouldRead;
    if (shouldRead) this.call.resume();
    else this.call.pause();
  }
}
