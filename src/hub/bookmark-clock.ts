import { performance } from 'node:perf_hooks';
import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { EventSink } from './event-sink';

/** What the clock needs of the stream it keeps time for. */
export interface BookmarkTarget {
  /** The stream's position: every matching event up to it has been handed to the sink. */
  readonly position: number;
  /** Sends a bookmark at the position now if the sink can take it; false when it was not sent. */
  sendTimedBookmark(): boolean;
}

/**
 * Keeps time for one stream that asked for bookmarks. It watches what the stream sends through a
 * wrapper around its sink (so streams that did not ask pay nothing per event), and one timer,
 * always due when the stream will have sent nothing for an interval. When it fires, a bookmark is
 * sent if the stream has been silent for the interval (the heartbeat), or if its position moved
 * past the last sequence it sent (events its filter passed over went by since). So a silent stream
 * gets a bookmark every interval, and one whose filter skips events learns the head within one.
 */
export class BookmarkClock {
  private lastSentAt = performance.now();
  private lastSentSequence: number;
  private timer: NodeJS.Timeout | undefined;
  private readonly onTimer = () => this.tick();

  constructor(
    readonly intervalMs: number,
    private readonly target: BookmarkTarget,
  ) {
    this.lastSentSequence = target.position;
  }

  /** `sink`, noting every message sent through it (events, snapshot entries and bookmarks alike). */
  track(sink: EventSink): EventSink {
    return new TrackedSink(this, sink);
  }

  start(): void {
    this.lastSentAt = performance.now();
    this.arm(this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** A message at `sequence` was just sent (TrackedSink's). */
  noteSent(sequence: number): void {
    this.lastSentAt = performance.now();
    this.lastSentSequence = sequence;
  }

  private tick(): void {
    this.timer = undefined;
    const silentFor = performance.now() - this.lastSentAt;
    // Timers fire a little early or late; a stream silent for all but a millisecond counts as silent.
    const due = silentFor >= this.intervalMs - 1 || this.target.position > this.lastSentSequence;
    if (due && !this.target.sendTimedBookmark()) {
      // Not sent (the sink is full, or a snapshot is still going out): the stream is not idle, look again later.
      this.arm(this.intervalMs);
      return;
    }
    this.arm(Math.max(1, this.lastSentAt + this.intervalMs - performance.now()));
  }

  private arm(delayMs: number): void {
    this.timer = setTimeout(this.onTimer, delayMs);
    // A stream's heartbeat never keeps the process alive by itself.
    this.timer.unref();
  }
}

/** A sink that tells its clock of every message sent through it: one object per stream, no closure per method. */
class TrackedSink implements EventSink {
  constructor(
    private readonly clock: BookmarkClock,
    private readonly sink: EventSink,
  ) {}

  write(event: LoggedEvent): boolean {
    this.clock.noteSent(event.sequence);
    return this.sink.write(event);
  }

  writeBookmark(sequence: number): boolean {
    this.clock.noteSent(sequence);
    return this.sink.writeBookmark(sequence);
  }

  onDrain(callback: () => void): void {
    this.sink.onDrain(callback);
  }

  fail(error: RiggerError): void {
    this.sink.fail(error);
  }
}
