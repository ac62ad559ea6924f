import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { EventPredicate } from './event-filter';

/** Where a subscription delivers: a gRPC stream, or anything else with the same back-pressure contract. */
export interface EventSink {
  /** Delivers one matching event; false means the sink is full and more must wait for onDrain. */
  write(event: LoggedEvent): boolean;
  /** Calls `callback` once, when the sink can take events again. */
  onDrain(callback: () => void): void;
  /** Ends the stream with an error (history compacted away, server shutting down). */
  fail(error: RiggerError): void;
}

/**
 * What a subscription needs of the hub: published events to read, and the hub's live path to join
 * and leave. The hub decides what joining means (EventHub keeps its live and catching-up sets).
 */
export interface EventSource {
  /** The newest published sequence. */
  readonly lastSequence: number;
  /** Published events from `from` on, at most `limit`; throws out_of_range when `from` is gone. */
  read(from: number, limit: number): readonly LoggedEvent[];
  /** From now on, hand `subscription` each event as it is published (to deliverLive); false if it is no longer held. */
  joinLive(subscription: Subscription): boolean;
  /** Stop handing it events: it is catching up again, or closed. */
  leaveLive(subscription: Subscription): void;
  /** It ended with an error: forget it. */
  release(subscription: Subscription): void;
}

const EVENTS_PER_TURN = 4096;
const PAGE_SIZE = 512;
const NO_EVENTS: readonly LoggedEvent[] = [];

/**
 * One subscriber's cursor in the event stream. It is either live (handed each event as the hub
 * publishes it) or catching up (reading the replay ring, or the log when it is further behind,
 * page by page, as fast as its sink drains). A full sink takes it off the live path onto catch-up,
 * so a slow subscriber costs the server no memory and never misses an event; the send never waits.
 */
export class Subscription {
  private nextSequence: number;
  private isLive = false;
  private pumpScheduled = false;
  private waitingForDrain = false;
  private closed = false;
  /**
   * The page being delivered and the index of its next event, kept while waiting for a drain: a
   * gRPC stream reports full every few messages, and re-reading a page from the log each time would
   * read every event many times over. At most one page is held.
   */
  private page: readonly LoggedEvent[] = NO_EVENTS;
  private pageIndex = 0;

  constructor(
    private readonly source: EventSource,
    private predicate: EventPredicate,
    sinceSequence: number | undefined,
    private readonly sink: EventSink,
  ) {
    this.nextSequence = (sinceSequence ?? source.lastSequence) + 1;
  }

  /** Whether it is on the live path (false while catching up or waiting for its sink). */
  get live(): boolean {
    return this.isLive;
  }

  /** The last sequence it has looked at (delivered, or passed over by its filter). */
  get position(): number {
    return this.nextSequence - 1;
  }

  start(): void {
    this.pump();
  }

  /** Applies a new filter from the next event on, without a gap or a repeat. */
  setFilter(predicate: EventPredicate): void {
    this.predicate = predicate;
  }

  /** Moves the position (a resume request on an open stream). */
  restartFrom(sinceSequence: number): void {
    this.goOffLive();
    this.dropPage();
    this.nextSequence = sinceSequence + 1;
    this.schedulePump();
  }

  /** Stops delivering; the hub's unsubscribe calls it. */
  close(): void {
    this.closed = true;
    this.goOffLive();
    this.dropPage();
  }

  /** Ends the stream with `error` and leaves the hub. */
  fail(error: RiggerError): void {
    if (this.closed) return;
    this.close();
    this.source.release(this);
    this.sink.fail(error);
  }

  /** One published event, from the hub's live path. */
  deliverLive(event: LoggedEvent): void {
    // Below the position: a resume point past what the hub had published when this went live.
    if (event.sequence < this.nextSequence) return;
    if (event.sequence !== this.nextSequence) {
      // A hole (history compacted before it was published): read() reports it rather than skip it.
      this.goOffLive();
      this.schedulePump();
      return;
    }
    this.nextSequence = event.sequence + 1;
    if (this.predicate(event) && !this.sink.write(event)) {
      this.goOffLive();
      this.awaitDrain();
    }
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.closed || this.waitingForDrain || this.isLive) return;
    let delivered = 0;
    while (!this.closed) {
      if (this.pageIndex >= this.page.length) {
        if (this.nextSequence > this.source.lastSequence) {
          this.dropPage();
          this.isLive = this.source.joinLive(this);
          return;
        }
        try {
          this.page = this.source.read(this.nextSequence, PAGE_SIZE);
        } catch (error) {
          this.fail(error as RiggerError);
          return;
        }
        this.pageIndex = 0;
      }
      const page = this.page;
      const first = this.pageIndex;
      while (this.pageIndex < page.length) {
        const event = page[this.pageIndex++]!;
        this.nextSequence = event.sequence + 1;
        if (this.predicate(event) && !this.sink.write(event)) {
          this.awaitDrain();
          return;
        }
      }
      delivered += page.length - first;
      if (delivered >= EVENTS_PER_TURN) {
        this.schedulePump(); // let live publishing and other subscribers run
        return;
      }
    }
  }

  private awaitDrain(): void {
    this.waitingForDrain = true;
    this.sink.onDrain(() => {
      this.waitingForDrain = false;
      this.pump();
    });
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    setImmediate(() => this.pump());
  }

  private dropPage(): void {
    this.page = NO_EVENTS;
    this.pageIndex = 0;
  }

  private goOffLive(): void {
    if (!this.isLive) return;
    this.isLive = false;
    this.source.leaveLive(this);
  }
}
