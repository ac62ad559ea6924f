import type { Subscription as RxSubscription } from 'rxjs';
import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import type { EventPredicate } from './event-filter';
import type { EventHub } from './event-hub';

/** Where a subscription delivers: a gRPC stream, or anything else with the same back-pressure contract. */
export interface EventSink {
  /** Delivers one matching event; false means the sink is full and more must wait for onDrain. */
  write(event: LoggedEvent): boolean;
  /** Calls `callback` once, when the sink can take events again. */
  onDrain(callback: () => void): void;
  /** Ends the stream with an error (history compacted away, server shutting down). */
  fail(error: RiggerError): void;
}

const EVENTS_PER_TURN = 4096;
const PAGE_SIZE = 512;
const NO_EVENTS: readonly LoggedEvent[] = [];

/**
 * One subscriber's position in the event stream. It is either live (on the hub's Subject, taking
 * each event as it is published) or catching up (reading the replay ring, or the log when it is
 * further behind, page by page, as fast as its sink drains). A full sink takes it off the live path
 * onto catch-up, so a slow subscriber costs the server no memory and never misses an event.
 */
export class Subscription {
  private nextSequence: number;
  private live: RxSubscription | undefined;
  private pumpScheduled = false;
  private waitingForDrain = false;
  private closed = false;
  /**
   * The page being delivered and the index of its next event, kept while waiting for a drain: a
   * gRPC stream reports full every 16 messages, and re-reading a 512-event page from the log each
   * time would decode every event many times over. At most one page is held.
   */
  private page: readonly LoggedEvent[] = NO_EVENTS;
  private pageIndex = 0;

  constructor(
    private readonly hub: EventHub,
    private predicate: EventPredicate,
    sinceSequence: number | undefined,
    private readonly sink: EventSink,
  ) {
    this.nextSequence = (sinceSequence ?? hub.lastSequence) + 1;
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
    this.leaveLive();
    this.dropPage();
    this.nextSequence = sinceSequence + 1;
    this.schedulePump();
  }

  close(): void {
    this.closed = true;
    this.leaveLive();
    this.dropPage();
  }

  /** Ends the stream with `error` and leaves the hub (even if the caller has not yet kept a reference). */
  fail(error: RiggerError): void {
    if (this.closed) return;
    this.hub.unsubscribe(this);
    this.sink.fail(error);
  }

  private pump(): void {
    this.pumpScheduled = false;
    if (this.closed || this.waitingForDrain || this.live) return;
    let delivered = 0;
    while (!this.closed) {
      if (this.pageIndex >= this.page.length) {
        if (this.nextSequence > this.hub.lastSequence) {
          this.dropPage();
          this.live = this.hub.live.subscribe((event) => this.onLive(event));
          return;
        }
        try {
          this.page = this.hub.read(this.nextSequence, PAGE_SIZE);
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

  private onLive(event: LoggedEvent): void {
    // Below the position: a resume point past what the hub had published when this went live.
    if (event.sequence < this.nextSequence) return;
    if (event.sequence !== this.nextSequence) {
      // A hole (history compacted before it was published): read() reports it rather than skip it.
      this.leaveLive();
      this.schedulePump();
      return;
    }
    this.nextSequence = event.sequence + 1;
    if (this.predicate(event) && !this.sink.write(event)) {
      this.leaveLive();
      this.awaitDrain();
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

  private leaveLive(): void {
    this.live?.unsubscribe();
    this.live = undefined;
  }
}
