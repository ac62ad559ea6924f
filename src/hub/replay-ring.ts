import type { LoggedEvent } from '../model/logged-event';
import type { TaskEventType, TaskStatus } from '../model/task';

/** Bytes of arena per event of capacity: room for typical events; big ones make the ring hold fewer. */
const ARENA_BYTES_PER_EVENT = 2048;
const MIN_ARENA_BYTES = 64 * 1024;
const MAX_ARENA_BYTES = 256 * 1024 * 1024;
/** previousStatus of an event about a new task (none before it). */
const NO_STATUS = 255;
/** The length of a string field that is absent. */
const ABSENT = -1;

/**
 * The last `capacity` published events, contiguous by sequence: a hot cache of the log's tail.
 *
 * Each event lives in one arena allocated once and reused in a circle (its filter strings and its
 * encoded bytes), its other fields in typed arrays: a sustained write load allocates nothing here
 * that outlives a scavenge, so the
 * ring costs the same memory at any write rate (held as objects, every event lived long enough to
 * be promoted and then died in the old generation, growing the heap with the rate). A read copies
 * the events out, since the arena is overwritten while a stream may still hold what it was given.
 * An event that does not fit in the arena's space beside the newer ones pushes out the oldest;
 * one bigger than the arena leaves the ring empty, and the log serves those reads.
 */
export class ReplayRing {
  private readonly arena: Buffer;
  /** Where each slot's record starts in the arena: task id, assignee, previous assignee, encoded event. */
  private readonly offset: Float64Array;
  /** The whole record's length, and its parts' (ABSENT for a missing assignee). */
  private readonly length: Uint32Array;
  private readonly taskIdLength: Uint32Array;
  private readonly assigneeLength: Int32Array;
  private readonly previousAssigneeLength: Int32Array;
  private readonly eventType: Uint8Array;
  private readonly status: Uint8Array;
  private readonly previousStatus: Uint8Array;
  private newest = 0;
  private count = 0;
  /** Where the next event's bytes go. */
  private head = 0;

  constructor(readonly capacity: number) {
    const slots = Math.max(1, capacity);
    this.arena = Buffer.allocUnsafeSlow(Math.min(MAX_ARENA_BYTES, Math.max(MIN_ARENA_BYTES, slots * ARENA_BYTES_PER_EVENT)));
    this.offset = new Float64Array(slots);
    this.length = new Uint32Array(slots);
    this.taskIdLength = new Uint32Array(slots);
    this.assigneeLength = new Int32Array(slots);
    this.previousAssigneeLength = new Int32Array(slots);
    this.eventType = new Uint8Array(slots);
    this.status = new Uint8Array(slots);
    this.previousStatus = new Uint8Array(slots);
  }

  /** Appends the next event; its sequence must follow the newest one (or start a fresh run). */
  push(event: LoggedEvent): void {
    if (this.count > 0 && event.sequence !== this.newest + 1) this.count = 0;
    const taskIdBytes = Buffer.byteLength(event.taskId);
    const assigneeBytes = event.assignee === undefined ? 0 : Buffer.byteLength(event.assignee);
    const previousAssigneeBytes = event.previousAssignee === undefined ? 0 : Buffer.byteLength(event.previousAssignee);
    const size = taskIdBytes + assigneeBytes + previousAssigneeBytes + event.encoded.length;
    if (size > this.arena.length) {
      this.count = 0;
      this.newest = event.sequence;
      return;
    }
    // Bytes are laid out in sequence order around the circle; the oldest are just ahead of head.
    let at = this.head;
    if (at + size > this.arena.length) {
      // The tail end is too short: drop the events stored there (the oldest) and start over at 0.
      while (this.count > 0 && this.offset[this.oldestSlot()]! >= at) this.count--;
      at = 0;
    }
    while (this.count > 0 && this.count >= this.offset.length) this.count--;
    while (this.count > 0 && this.overlaps(this.oldestSlot(), at, size)) this.count--;
    const slot = event.sequence % this.offset.length;
    const { arena } = this;
    let end = at + arena.write(event.taskId, at);
    if (event.assignee !== undefined) end += arena.write(event.assignee, end);
    if (event.previousAssignee !== undefined) end += arena.write(event.previousAssignee, end);
    event.encoded.copy(arena, end);
    this.offset[slot] = at;
    this.length[slot] = size;
    this.taskIdLength[slot] = taskIdBytes;
    this.assigneeLength[slot] = event.assignee === undefined ? ABSENT : assigneeBytes;
    this.previousAssigneeLength[slot] = event.previousAssignee === undefined ? ABSENT : previousAssigneeBytes;
    this.eventType[slot] = event.eventType;
    this.status[slot] = event.status;
    this.previousStatus[slot] = event.previousStatus ?? NO_STATUS;
    this.head = at + size;
    this.newest = event.sequence;
    this.count++;
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

  /** Events from `from` on, at most `limit`, as copies; call only when covers(from). */
  slice(from: number, limit: number): LoggedEvent[] {
    const out: LoggedEvent[] = [];
    const end = Math.min(this.newest, from + limit - 1);
    const { arena } = this;
    for (let sequence = from; sequence <= end; sequence++) {
      const slot = sequence % this.offset.length;
      let at = this.offset[slot]!;
      const text = (length: number): string | undefined => {
        if (length === ABSENT) return undefined;
        const value = arena.toString('utf8', at, at + length);
        at += length;
        return value;
      };
      const taskId = text(this.taskIdLength[slot]!)!;
      const assignee = text(this.assigneeLength[slot]!);
      const previousAssignee = text(this.previousAssigneeLength[slot]!);
      const previousStatus = this.previousStatus[slot]!;
      out.push({
        sequence,
        eventType: this.eventType[slot] as TaskEventType,
        taskId,
        assignee,
        previousAssignee,
        status: this.status[slot] as TaskStatus,
        previousStatus: previousStatus === NO_STATUS ? undefined : (previousStatus as TaskStatus),
        encoded: Buffer.from(arena.subarray(at, this.offset[slot]! + this.length[slot]!)),
      });
    }
    return out;
  }

  private oldestSlot(): number {
    return (this.newest - this.count + 1) % this.offset.length;
  }

  private overlaps(slot: number, at: number, size: number): boolean {
    const start = this.offset[slot]!;
    return start < at + size && at < start + this.length[slot]!;
  }
}
