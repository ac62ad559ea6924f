// The deep path loads Subject alone; 'rxjs' loads every operator too, which start-up does not need.
import { Subject } from 'rxjs/internal/Subject';
import type { Subscription as RxSubscription } from 'rxjs';
import { RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { compileFilter, type FilterSpec, type LogNarrowing } from './event-filter';
import { LogPageCache } from './log-page-cache';
import { ReplayRing } from './replay-ring';
import { StreamRegistry } from './stream-registry';
import { Subscription, type EventSink, type EventSource, type NarrowedPage, type StreamOptions } from './subscription';

/** What the hub needs of the event log (the store's EventLog implements it). */
export interface LogReader {
  readAfter(after: number, upTo: number, limit: number): LoggedEvent[];
  /**
   * The events `narrowing` selects with after < sequence <= upTo, in order, at most `limit`, read in
   * time proportional to them; every selected event up to `through` is among them; `oldest` is the
   * oldest sequence the log held in the same read. Optional: without it, every reader pages the log.
   */
  readMatching?(after: number, upTo: number, limit: number, narrowing: LogNarrowing): { events: LoggedEvent[]; through: number; oldest: number };
  latestSequence(): number;
  oldestSequence(): number;
}

const SYNC_PAGE = 1000;
/** Pages kept for subscribers catching up (from the log, or copied out of the ring): 8 x 512 events. */
const LOG_PAGE_SIZE = 512;
const LOG_PAGES_KEPT = 8;

/**
 * Publishes committed events, strictly in sequence order and each once, to the replay ring and the
 * subscriptions on the live path; serves subscriptions that are behind from the ring or the log.
 * The hub owns which subscriptions are live (on the Subject) and which are catching up (every
 * other one in `subscriptions`), as etcd's watchable store owns its synced and unsynced watchers.
 */
export class EventHub implements EventSource {
  /** Every event stream open on the server (consumer members too), for status and metrics. */
  readonly streams = new StreamRegistry();
  private readonly live = new Subject<LoggedEvent>();
  private readonly ring: ReplayRing;
  private readonly logPages = new LogPageCache(LOG_PAGE_SIZE, LOG_PAGES_KEPT);
  private readonly subscriptions = new Set<Subscription>();
  private readonly synced = new Map<Subscription, RxSubscription>();
  private readonly closeListeners = new Set<(reason: RiggerError) => void>();
  private published: number;
  private closedWith: RiggerError | undefined;

  constructor(
    private readonly log: LogReader,
    bufferSize: number,
  ) {
    this.ring = new ReplayRing(bufferSize);
    this.published = log.latestSequence();
    const tail = log.readAfter(Math.max(0, this.published - bufferSize), this.published, bufferSize);
    for (const event of tail) this.ring.push(event);
  }

  /** The newest published sequence. */
  get lastSequence(): number {
    return this.published;
  }

  get subscriberCount(): number {
    return this.subscriptions.size;
  }

  /** Subscriptions on the live path; the rest are catching up or waiting for their sink. */
  get liveCount(): number {
    return this.synced.size;
  }

  /** How far the furthest-behind subscription is from the newest published event, in events (0 with none); computed when asked (metrics). */
  maxSubscriberLag(): number {
    let lag = 0;
    for (const subscription of this.subscriptions) lag = Math.max(lag, this.published - subscription.position);
    return lag;
  }

  /** Publishes events just committed by this process; fills any gap (another process's commits) from the log first. */
  publish(events: readonly LoggedEvent[]): void {
    for (const event of events) {
      if (event.sequence <= this.published) continue;
      if (event.sequence > this.published + 1) this.syncFromLog(event.sequence - 1);
      this.emit(event);
    }
  }

  /**
   * Publishes whatever the log holds beyond what was published (commits of other processes). A
   * hole can only be history compacted away before it was published; subscribers that reach it get
   * OUT_OF_RANGE from read(), never a silent skip.
   */
  syncFromLog(upTo = Number.MAX_SAFE_INTEGER): void {
    for (;;) {
      const page = this.log.readAfter(this.published, upTo, SYNC_PAGE);
      for (const event of page) this.emit(event);
      if (page.length < SYNC_PAGE) return;
    }
  }

  /**
   * Published events from `from` on, at most `limit`, from the ring or else the log. Throws
   * out_of_range when the log no longer holds `from`.
   */
  read(from: number, limit: number): readonly LoggedEvent[] {
    const size = this.logPages.pageSize;
    const index = Math.floor((from - 1) / size);
    const after = index * size;
    const upTo = Math.min(after + size, this.published);
    if (this.ring.covers(from)) {
      // The ring's reads are copies: a whole page is copied once and shared by every subscriber
      // reading the same stretch. (The ring can hold events the log no longer has: those are read alone.)
      if (!this.ring.covers(after + 1)) return this.ring.slice(from, limit);
      const page = this.logPages.page(index, () => this.ring.slice(after + 1, upTo - after));
      return page.slice(from - after - 1, from - after - 1 + limit);
    }
    // A page reaching past what was published is read but not kept (it is not complete yet).
    const page = this.logPages.page(index, () => this.log.readAfter(after, upTo, size));
    const at = page.findIndex((event) => event.sequence >= from);
    // `from` missing from a published stretch: compacted away, never to be skipped silently.
    if (from <= this.published && (at < 0 || page[at]!.sequence !== from)) throw this.outOfRange(from - 1);
    return at < 0 ? [] : page.slice(at, at + limit);
  }

  /**
   * What `narrowing` selects from `from` on, at most `limit` events, for a subscription behind the
   * ring with a selective filter: read through the log's indexes, so a stretch of history holding
   * nothing it wants costs next to nothing, and `through` (where its position moves) can be far
   * past the last event returned. From the ring (or with a log that cannot narrow) it is read().
   * Throws out_of_range when the log no longer holds `from` (checked in the read's own transaction,
   * so a compaction meanwhile is never a silent skip).
   */
  readNarrowed(from: number, limit: number, narrowing: LogNarrowing): NarrowedPage {
    if (this.ring.covers(from) || !this.log.readMatching) {
      const events = this.read(from, limit);
      return { events, through: events.length ? events[events.length - 1]!.sequence : from - 1 };
    }
    const page = this.log.readMatching(from - 1, this.published, limit, narrowing);
    if (page.oldest > from) throw this.outOfRange(from - 1);
    return { events: page.events, through: page.through };
  }

  /**
   * Registers a subscription; it delivers once the caller start()s it (after sending its stream
   * headers). `sinceSequence` undefined starts live; otherwise every matching event after it is
   * delivered first. With `options.snapshot` (no sinceSequence) the snapshot goes first and the
   * events follow from its sequence on. Throws invalid_argument for a bad filter, out_of_range for
   * history that is gone or a sequence from the future.
   */
  subscribe(spec: FilterSpec, sinceSequence: number | undefined, sink: EventSink, options: StreamOptions = {}): Subscription {
    if (this.closedWith) throw this.closedWith;
    const predicate = compileFilter(spec);
    if (options.snapshot && sinceSequence !== undefined)
      throw new RiggerError('invalid_argument', 'a snapshot stream starts at the snapshot; it takes no since_sequence');
    if (sinceSequence !== undefined) this.checkResumable(sinceSequence);
    const subscription = new Subscription(this, predicate, sinceSequence, sink, options);
    this.subscriptions.add(subscription);
    return subscription;
  }

  unsubscribe(subscription: Subscription): void {
    subscription.close();
    this.subscriptions.delete(subscription);
  }

  joinLive(subscription: Subscription): boolean {
    if (!this.subscriptions.has(subscription)) return false;
    if (!this.synced.has(subscription))
      this.synced.set(
        subscription,
        this.live.subscribe((event) => subscription.deliverLive(event)),
      );
    return true;
  }

  leaveLive(subscription: Subscription): void {
    this.synced.get(subscription)?.unsubscribe();
    this.synced.delete(subscription);
  }

  release(subscription: Subscription): void {
    this.leaveLive(subscription);
    this.subscriptions.delete(subscription);
  }

  /**
   * Calls `listener` when the hub closes, for streams that hold no subscription yet (a
   * TaskEventStream before its first subscribe). Returns the function that removes it.
   */
  onClose(listener: (reason: RiggerError) => void): () => void {
    if (this.closedWith) {
      listener(this.closedWith);
      return () => {};
    }
    this.closeListeners.add(listener);
    return () => this.closeListeners.delete(listener);
  }

  checkResumable(sinceSequence: number): void {
    const latest = Math.max(this.published, this.log.latestSequence());
    if (sinceSequence > latest) {
      throw new RiggerError(
        'out_of_range',
        // A checkpoint from before a restore: the sequences after the backup's head are gone, and new
        // events will take their numbers, so waiting for them would hand this subscriber other events.
        `since_sequence ${sinceSequence} is ahead of the newest event (${latest}); this server's log does not have it (if its database was restored from a backup, the events after the backup are gone: resume from a snapshot, or from a sequence at most ${latest}; docs/operations.md#backups)`,
        { oldest_sequence: String(this.log.oldestSequence()), latest_sequence: String(latest) },
      );
    }
    // The log alone decides what is retained; the ring is only a cache of its tail.
    if (sinceSequence + 1 < this.log.oldestSequence()) throw this.outOfRange(sinceSequence);
  }

  /** Ends every subscription with `reason` and refuses new ones. */
  close(reason: RiggerError): void {
    this.closedWith = reason;
    for (const subscription of this.subscriptions) subscription.fail(reason);
    this.subscriptions.clear();
    for (const listener of this.closeListeners) listener(reason);
    this.closeListeners.clear();
    this.live.complete();
  }

  private emit(event: LoggedEvent): void {
    this.published = event.sequence;
    this.ring.push(event);
    this.live.next(event);
  }

  private outOfRange(sinceSequence: number): RiggerError {
    const oldest = this.log.oldestSequence();
    return new RiggerError(
      'out_of_range',
      `since_sequence ${sinceSequence} is older than the retained history; the oldest event still available is ${oldest}, so resume with since_sequence >= ${oldest - 1}`,
      { oldest_sequence: String(oldest) },
    );
  }
}
