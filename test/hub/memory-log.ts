// Fakes for the hub's unit tests (subscription*.test.ts and others): an event log held in an array,
// an EventSink with a fixed capacity that the test empties when it chooses, and the checks on a sink
// (drained until live, no contract violation). Nothing here runs on its own: every append,
// compaction and drain is a step the test takes.
import assert from 'node:assert/strict';
import type { RiggerError } from '../../src/model/errors';
import type { LoggedEvent } from '../../src/model/logged-event';
import type { TaskEventType, TaskStatus } from '../../src/model/task';
import type { LogReader } from '../../src/hub/event-hub';
import type { EventSink, Subscription } from '../../src/hub/subscription';

/** The fields of an event the test chooses; the sequence and the encoded bytes the log assigns. */
export interface EventFields {
  eventType?: TaskEventType;
  taskId?: string;
  assignee?: string | undefined;
  previousAssignee?: string | undefined;
  status?: TaskStatus;
  previousStatus?: TaskStatus | undefined;
}

/**
 * The event log as the hub reads it, in memory, with the store's EventLog semantics:
 * latestSequence() is the newest sequence ever assigned (it survives compaction, 0 before the
 * first event); oldestSequence() is the oldest still held, or latestSequence() + 1 when empty.
 * Appending does not publish: the test hands the returned events to hub.publish() (this
 * process's commits) or leaves them for the hub to find (another process's commits).
 */
export class MemoryLog implements LogReader {
  private events: LoggedEvent[] = [];
  private latest = 0;
  /** Every readAfter call, as [after, upTo, limit], so a test can tell the ring from the log. */
  readonly reads: [number, number, number][] = [];

  /** Appends one event per entry of `fields` (or `count` default events) and returns them. */
  append(fields: number | readonly EventFields[]): LoggedEvent[] {
    const list = typeof fields === 'number' ? Array.from({ length: fields }, (): EventFields => ({})) : fields;
    const added = list.map((f) => {
      const sequence = ++this.latest;
      return {
        sequence,
        eventType: f.eventType ?? 2,
        taskId: f.taskId ?? 'task-1',
        assignee: f.assignee,
        previousAssignee: f.previousAssignee,
        status: f.status ?? 1,
        previousStatus: f.previousStatus,
        encoded: Buffer.from(String(sequence)),
      } satisfies LoggedEvent;
    });
    this.events.push(...added);
    return added;
  }

  /** Drops every event with a sequence below `below` (retention). */
  compact(below: number): void {
    this.events = this.events.filter((event) => event.sequence >= below);
  }

  /** Every event still held, in sequence order. */
  all(): readonly LoggedEvent[] {
    return this.events;
  }

  readAfter(after: number, upTo: number, limit: number): LoggedEvent[] {
    this.reads.push([after, upTo, limit]);
    const out: LoggedEvent[] = [];
    for (const event of this.events) {
      if (out.length >= limit) break;
      if (event.sequence > after && event.sequence <= upTo) out.push(event);
    }
    return out;
  }

  latestSequence(): number {
    return this.latest;
  }

  oldestSequence(): number {
    return this.events[0]?.sequence ?? this.latest + 1;
  }
}

/**
 * An EventSink holding at most `capacity` events, like a stream's buffer: write() takes the
 * event and answers false once that filled it; drain() empties it and calls the onDrain callbacks
 * waiting (an onDrain while not full is answered in a microtask, as EventStreamWriter does).
 * What the subscriber "received" is read back from the encoded bytes, so a wrong event object
 * shows as a wrong sequence. A write to a full sink, or any write or wait after fail(), is a
 * broken contract and is recorded in `violations` (throwing would land inside the hub).
 */
export class FakeSink implements EventSink {
  readonly received: number[] = [];
  /** The sequences of the bookmarks written, in order. */
  readonly bookmarks: number[] = [];
  /** Everything written, in order: an event as its sequence, a bookmark as "b<sequence>". */
  readonly sent: (number | string)[] = [];
  readonly failures: RiggerError[] = [];
  readonly violations: string[] = [];
  private buffered = 0;
  private waiting: (() => void)[] = [];

  constructor(public capacity = Number.POSITIVE_INFINITY) {}

  get full(): boolean {
    return this.buffered >= this.capacity;
  }

  /** Drain callbacks registered and not yet called. */
  get waiters(): number {
    return this.waiting.length;
  }

  write(event: LoggedEvent): boolean {
    const sequence = Number(event.encoded.toString());
    if (sequence !== event.sequence) this.violations.push(`event ${event.sequence} carries the bytes of ${sequence}`);
    if (this.full) this.violations.push(`write of ${event.sequence} to a full sink`);
    if (this.failures.length > 0) this.violations.push(`write of ${event.sequence} after fail`);
    this.received.push(sequence);
    this.sent.push(sequence);
    this.buffered++;
    return !this.full;
  }

  writeBookmark(sequence: number): boolean {
    if (this.full) this.violations.push(`bookmark ${sequence} written to a full sink`);
    if (this.failures.length > 0) this.violations.push(`bookmark ${sequence} after fail`);
    this.bookmarks.push(sequence);
    this.sent.push(`b${sequence}`);
    this.buffered++;
    return !this.full;
  }

  onDrain(callback: () => void): void {
    if (this.failures.length > 0) this.violations.push('onDrain after fail');
    if (!this.full) queueMicrotask(callback);
    else this.waiting.push(callback);
  }

  fail(error: RiggerError): void {
    if (this.failures.length > 0) this.violations.push(`second fail: ${error.message}`);
    this.failures.push(error);
  }

  /** Empties the buffer and calls the waiting callbacks (which may fill it again at once). */
  drain(): void {
    this.buffered = 0;
    const callbacks = this.waiting;
    this.waiting = [];
    for (const callback of callbacks) callback();
  }
}

/** Lets setImmediate-scheduled pumps run: `turns` macrotask turns (bounded). */
export async function turns(count = 1): Promise<void> {
  for (let i = 0; i < count; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** from, from + 1, ... to (empty when to < from). */
export function range(from: number, to: number): number[] {
  return Array.from({ length: Math.max(0, to - from + 1) }, (_, i) => from + i);
}

/** Drains `sink` (and lets scheduled pumps run) until `sub` is live again; at most `rounds` drains. */
export async function drainUntilLive(sub: Subscription, sink: FakeSink, rounds = 10_000): Promise<number> {
  for (let i = 0; i < rounds; i++) {
    if (sub.live) return i;
    sink.drain();
    if (!sub.live) await turns(1);
  }
  assert.fail(`not live after ${rounds} drains; received up to ${sink.received.at(-1)}`);
}

/** No sink saw a call its contract forbids. */
export function assertClean(...sinks: FakeSink[]): void {
  for (const sink of sinks) assert.deepEqual(sink.violations, [], 'sink contract violations');
}
