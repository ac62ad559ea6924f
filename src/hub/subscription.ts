import type { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { BookmarkClock } from './bookmark-clock';
import type { EventSink } from './event-sink';
import type { EventPredicate, LogNarrowing } from './event-filter';

export type { EventSink } from './event-sink';

/**
 * What a subscription needs of the hub: published events to read, and the hub's live path to join
 * and leave. The hub decides what joining means (EventHub keeps its live and catching-up sets).
 */
export interface EventSource {
  /** The newest published sequence. */
  readonly lastSequence: number;
  /** Published events from `from` on, at most `limit`; throws out_of_range when `from` is gone. */
  read(from: number, limit: number): readonly LoggedEvent[];
  /**
   * Optional: published events from `from` on that `narrowing` selects, at most `limit`, and how far
   * that read covered; throws out_of_range when `from` is gone. Without it, every read is read().
   */
  readNarrowed?(from: number, limit: number, narrowing: LogNarrowing): NarrowedPage;
  /** From now on, hand `subscription` each event as it is published (to deliverLive); false if it is no longer held. */
  joinLive(subscription: Subscription): boolean;
  /** Stop handing it events: it is catching up again, or closed. */
  leaveLive(subscription: Subscription): void;
  /** It ended with an error: forget it. */
  release(subscription: Subscription): void;
}

/**
 * The current state of the tasks a stream matches, sent before its events (include_snapshot). The
 * store's TaskSnapshot implements it; the hub knows nothing of how it is read.
 */
export interface SnapshotSource {
  /** The sequence the snapshot is consistent at: the stream's events start after it. */
  readonly sequence: number;
  /**
   * The next entries to send, in order (a page, which may be empty), the last of all being the
   * snapshot-complete marker; undefined once done. Throws a RiggerError when it cannot go on.
   */
  next(): readonly LoggedEvent[] | undefined;
  /** Lets go of what it holds; called once it is done or the stream ends. */
  close(): void;
}

/** A read through a filter's narrowing: the events it selected, and the last sequence it covered. */
export interface NarrowedPage {
  readonly events: readonly LoggedEvent[];
  /** Every selected event up to here is in `events`: the position moves here once they are delivered. */
  readonly through: number;
}

/** What a stream asked for besides its filter. */
export interface StreamOptions {
  /** Bookmarks: after this many ms without a message, and at least this often while unmatched events go by. */
  bookmarkIntervalMs?: number;
  /** Sent first; the stream's events then start after snapshot.sequence. */
  snapshot?: SnapshotSource;
}

const EVENTS_PER_TURN = 4096;
/** Snapshot pages sent per turn of the event loop before yielding to writers and other streams. */
const SNAPSHOT_PAGES_PER_TURN = 2;
const PAGE_SIZE = 512;
/** Reads per turn of the event loop: a narrowed read can return few events for a long stretch of log. */
const READS_PER_TURN = 16;
/**
 * A narrowed page that comes back full from a stretch less than this many times its length: the
 * filter matches much of the log there, where the shared pages (read once for every subscriber)
 * serve better, for the next DENSE_PAGES pages, before the narrowed read is tried again.
 */
const DENSE_SPAN = 4;
const DENSE_PAGES = 8;
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
  /** The last sequence the held page covers, past its last event when it was a narrowed read (0: its events). */
  private pageThrough = 0;
  /** Whether the held page was read through the filter's narrowing (so holds only what that filter selects). */
  private pageNarrowed = false;
  /** Pages still to read whole after a dense narrowed one (DENSE_SPAN). */
  private densePagesLeft = 0;
  /** The sink as given; `sink` is it, or it wrapped by the bookmark clock when the stream asked for bookmarks. */
  private readonly rawSink: EventSink;
  private sink: EventSink;
  private clock: BookmarkClock | undefined;
  /** Sent before any event, while set. */
  private snapshot: SnapshotSource | undefined;
  /** A bookmark asked for (BookmarkRequest) while the sink was full or the snapshot still going out. */
  private bookmarkOwed = false;
  private started = false;

  constructor(
    private readonly source: EventSource,
    private predicate: EventPredicate,
    sinceSequence: number | undefined,
    sink: EventSink,
    options: StreamOptions = {},
  ) {
    this.snapshot = options.snapshot;
    this.nextSequence = (this.snapshot?.sequence ?? sinceSequence ?? source.lastSequence) + 1;
    this.rawSink = sink;
    this.sink = sink;
    this.setBookmarkInterval(options.bookmarkIntervalMs);
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
    this.started = true;
    this.clock?.start();
    this.pump();
  }

  /** Applies a new filter from the next event on, without a gap or a repeat. */
  setFilter(predicate: EventPredicate): void {
    this.predicate = predicate;
    // A narrowed page holds only what the old filter selects: read on from the position instead,
    // by the new filter's own strategy. (The position is just past the last event handled.)
    if (this.pageNarrowed) this.dropPage();
    this.densePagesLeft = 0;
  }

  /** Turns bookmarks on (every `intervalMs`), changes their interval, or turns them off (undefined). */
  setBookmarkInterval(intervalMs: number | undefined): void {
    if (this.clock?.intervalMs === intervalMs) return;
    this.clock?.stop();
    this.clock = intervalMs === undefined || this.closed ? undefined : new BookmarkClock(intervalMs, this);
    this.sink = this.clock ? this.clock.track(this.rawSink) : this.rawSink;
    if (this.started) this.clock?.start();
  }

  /**
   * Sends one bookmark, after everything already sent: now, or once the sink drains, or once the
   * snapshot is out (a TaskEventStream BookmarkRequest).
   */
  requestBookmark(): void {
    if (this.closed) return;
    if (this.waitingForDrain || this.snapshot) this.bookmarkOwed = true;
    else this.sendBookmark();
  }

  /** The bookmark clock's: sends one unless the stream is busy anyway (a full sink, a snapshot going out). */
  sendTimedBookmark(): boolean {
    if (this.closed || this.waitingForDrain || this.snapshot) return false;
    this.sendBookmark();
    return true;
  }

  /** Moves the position (a resume request on an open stream); a snapshot still going out ends there, without its marker. */
  restartFrom(sinceSequence: number): void {
    this.goOffLive();
    this.snapshot?.close();
    this.snapshot = undefined;
    this.dropPage();
    this.nextSequence = sinceSequence + 1;
    this.schedulePump();
  }

  /** Stops delivering; the hub's unsubscribe calls it. */
  close(): void {
    this.closed = true;
    this.clock?.stop();
    this.clock = undefined;
    this.snapshot?.close();
    this.snapshot = undefined;
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
    if (this.snapshot && !this.pumpSnapshot()) return;
    if (this.bookmarkOwed && !this.payOwedBookmark()) return;
    let delivered = 0;
    let reads = 0;
    while (!this.closed) {
      if (this.pageIndex >= this.page.length) {
        this.passPage();
        if (this.nextSequence > this.source.lastSequence) {
          this.dropPage();
          this.isLive = this.source.joinLive(this);
          return;
        }
        if (reads++ >= READS_PER_TURN) {
          this.schedulePump();
          return;
        }
        try {
          this.readPage();
        } catch (error) {
          this.fail(error as RiggerError);
          return;
        }
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

  /**
   * Reads the next page from the position: through the filter's narrowing when it has one and the
   * source can (a selective filter far behind reads only what may match), else the shared pages.
   */
  private readPage(): void {
    const narrowing = this.predicate.narrowing;
    const from = this.nextSequence;
    this.pageIndex = 0;
    if (narrowing === undefined || this.source.readNarrowed === undefined || this.densePagesLeft > 0) {
      if (this.densePagesLeft > 0) this.densePagesLeft--;
      this.page = this.source.read(from, PAGE_SIZE);
      this.pageThrough = 0;
      this.pageNarrowed = false;
      return;
    }
    const { events, through } = this.source.readNarrowed(from, PAGE_SIZE, narrowing);
    this.page = events;
    this.pageThrough = through;
    this.pageNarrowed = true;
    if (events.length === PAGE_SIZE && through - from + 1 < DENSE_SPAN * PAGE_SIZE) this.densePagesLeft = DENSE_PAGES;
  }

  /** The held page is all handled: the position moves to the end of the stretch it covered. */
  private passPage(): void {
    if (this.pageThrough >= this.nextSequence) this.nextSequence = this.pageThrough + 1;
    this.pageThrough = 0;
  }

  /**
   * Sends snapshot pages as fast as the sink drains; true once the whole snapshot is out and the
   * events may follow. Its entries all carry the snapshot's sequence, which is the position
   * already, so the position does not move.
   */
  private pumpSnapshot(): boolean {
    const snapshot = this.snapshot!;
    for (let pages = 0; ;) {
      if (this.pageIndex >= this.page.length) {
        if (pages++ >= SNAPSHOT_PAGES_PER_TURN) {
          this.schedulePump(); // let writers and other subscribers run between pages
          return false;
        }
        let next: readonly LoggedEvent[] | undefined;
        try {
          next = snapshot.next();
        } catch (error) {
          this.fail(error as RiggerError);
          return false;
        }
        if (next === undefined) break;
        this.page = next;
        this.pageIndex = 0;
      }
      const page = this.page;
      while (this.pageIndex < page.length) {
        if (!this.sink.write(page[this.pageIndex++]!)) {
          this.awaitDrain();
          return false;
        }
      }
    }
    this.snapshot = undefined;
    snapshot.close();
    this.dropPage();
    return true;
  }

  /** Sends the bookmark owed; false when that filled the sink (the caller stops). */
  private payOwedBookmark(): boolean {
    this.bookmarkOwed = false;
    return this.sendBookmark();
  }

  /** Writes a bookmark at the position, after what was sent before it; a full sink then waits like an event. False if it filled the sink. */
  private sendBookmark(): boolean {
    if (this.sink.writeBookmark(this.position)) return true;
    this.goOffLive();
    this.awaitDrain();
    return false;
  }

  private awaitDrain(): void {
    this.waitingForDrain = true;
    this.sink.onDrain(() => {
      this.waitingForDrain = false;
      this.pump(); // pays a bookmark owed first
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
    this.pageThrough = 0;
    this.pageNarrowed = false;
  }

  private goOffLive(): void {
    if (!this.isLive) return;
    this.isLive = false;
    this.source.leaveLive(this);
  }
}
