// A consumer group's per-task lanes: the events of each task not yet acked, in sequence order, and
// which lane heads may go out now (the ready heap, lowest sequence first) or later (delayed by a
// nak or the backoff). Only a lane's head is ever in flight (as SQS FIFO message groups), so a
// task's next event waits until its head is acked, dead or returned. This module owns the lanes;
// it knows nothing of members or progress.
import type { LoggedEvent } from '../model/logged-event';
import { MinHeap } from './min-heap';

/** One event not yet acked or dead, and its delivery state. */
export interface Entry {
  readonly event: LoggedEvent;
  attempts: number;
  reason: string | undefined;
  /** The member holding it now (its delivery in flight), if any. */
  holder: number | undefined;
  /** The delivery id of the delivery in flight ('' when none). */
  deliveryId: string;
  /** When the ack wait of the delivery in flight ends (Date.now() ms). */
  deadline: number;
  /** Not delivered again before this (a nak's delay, the backoff). */
  notBefore: number;
  /** A dead letter delivered again: below the acked position, outside the outstanding events. */
  readonly redriven: boolean;
}

export function newEntry(event: LoggedEvent, attempts: number, redriven: boolean): Entry {
  return { event, attempts, reason: undefined, holder: undefined, deliveryId: '', deadline: 0, notBefore: 0, redriven };
}

interface Lane {
  readonly taskId: string;
  readonly entries: Entry[];
  /** In the ready heap (its head can be delivered now). */
  queued: boolean;
}

function keyOf(lane: Lane): number {
  return lane.entries[0]?.event.sequence ?? Number.MAX_SAFE_INTEGER;
}

/** Taken arrivals dropped from the front of the queue once this many have piled up (and half of it). */
const COMPACT_AFTER = 1024;

export class TaskLanes {
  private readonly lanes = new Map<string, Lane>();
  private readonly ready = new MinHeap<Lane>(keyOf);
  /**
   * Ready lanes in rising key order, beside the heap: a lane made ready by a new event has the
   * highest sequence yet, so most lanes (a task's first event) go here and cost no heap work.
   * takeReady takes the lower of its front and the heap's top: the same order as one heap.
   */
  private readonly arrivals: Lane[] = [];
  private arrivalsFrom = 0;
  private lastArrival = 0;
  /** Lanes whose head waits for its redelivery time. */
  private readonly delayed = new Set<Lane>();

  /** Puts `entry` in its task's lane: in sequence order when `sorted` (a redrive), else last (new events come in order). */
  add(entry: Entry, sorted: boolean, now: number): void {
    const taskId = entry.event.taskId;
    let lane = this.lanes.get(taskId);
    if (!lane) {
      lane = { taskId, entries: [], queued: false };
      this.lanes.set(taskId, lane);
    }
    const { entries } = lane;
    if (sorted) {
      let at = entries.length;
      // The head may be in flight: never put anything before it.
      while (at > 1 && entries[at - 1]!.event.sequence > entry.event.sequence) at--;
      entries.splice(at, 0, entry);
    } else {
      entries.push(entry);
    }
    if (entries.length === 1) this.settle(lane, now);
  }

  /** Takes a finished (acked or dead) entry out of its lane; the lane's next event may go. */
  remove(entry: Entry, now: number): void {
    const lane = this.lanes.get(entry.event.taskId);
    if (!lane) return;
    const at = lane.entries.indexOf(entry);
    if (at < 0) return;
    lane.entries.splice(at, 1);
    if (at === 0) this.settle(lane, now);
  }

  /** The entry's holder let go of it (nak, ack wait over, member gone): its lane may go again, now or later. */
  released(entry: Entry, now: number): void {
    const lane = this.lanes.get(entry.event.taskId);
    if (lane && lane.entries[0] === entry) this.settle(lane, now);
  }

  /** The next lane head that may go out now (lowest sequence first), taken off the ready heap. */
  takeReady(now: number): Entry | undefined {
    while (this.readyCount > 0) {
      const lane = this.popReady();
      lane.queued = false;
      if (this.lanes.get(lane.taskId) !== lane) continue; // emptied while it waited
      const head = lane.entries[0];
      if (head && head.holder === undefined && head.notBefore <= now) return head;
      this.settle(lane, now);
    }
    return undefined;
  }

  get readyCount(): number {
    return this.ready.size + this.arrivals.length - this.arrivalsFrom;
  }

  /** The ready lane of the lowest key, from the arrivals or the heap. */
  private popReady(): Lane {
    const { arrivals } = this;
    if (this.arrivalsFrom === arrivals.length) return this.ready.pop()!;
    const first = arrivals[this.arrivalsFrom]!;
    const top = this.ready.peek();
    if (top !== undefined && keyOf(top) < keyOf(first)) return this.ready.pop()!;
    this.arrivalsFrom++;
    if (this.arrivalsFrom === arrivals.length) {
      arrivals.length = 0;
      this.arrivalsFrom = 0;
    } else if (this.arrivalsFrom >= COMPACT_AFTER && this.arrivalsFrom * 2 >= arrivals.length) {
      arrivals.splice(0, this.arrivalsFrom);
      this.arrivalsFrom = 0;
    }
    return first;
  }

  /** Moves delayed lanes whose time has come to the ready heap. */
  wake(now: number): void {
    for (const lane of [...this.delayed]) if ((lane.entries[0]?.notBefore ?? 0) <= now) this.settle(lane, now);
  }

  /** The head of the task's lane (the only event of it that may be in flight). */
  headOf(taskId: string): Entry | undefined {
    return this.lanes.get(taskId)?.entries[0];
  }

  /** Files the lane by its head: ready, delayed, in flight (neither), or gone when empty. */
  private settle(lane: Lane, now: number): void {
    const head = lane.entries[0];
    if (!head) {
      // It may still sit in the ready heap: takeReady skips it then, and a newer lane of the same
      // task must not be dropped for it.
      if (this.lanes.get(lane.taskId) === lane) this.lanes.delete(lane.taskId);
      this.delayed.delete(lane);
      return;
    }
    if (head.holder !== undefined) return;
    if (head.notBefore > now) {
      this.delayed.add(lane);
      return;
    }
    this.delayed.delete(lane);
    if (!lane.queued) {
      lane.queued = true;
      const key = head.event.sequence;
      if (key > this.lastArrival) {
        this.lastArrival = key;
        this.arrivals.push(lane);
      } else {
        this.ready.push(lane);
      }
    }
  }
}
