// The two shapes a subscription takes: an RxJS Observable and an async iterator (feed-adapters.ts).
// Both sit on one EventFeed (reconnect + resume) and one optional CheckpointWriter. When is an event "handled"?
//  - Observable: when the observer's next() has returned. Keep next() synchronous, or use the
//    iterator: a checkpoint written after next() started async work could get ahead of that work.
//  - Async iterator: when the loop comes back for the next event, so everything the loop body
//    awaited is done. An event whose body threw or broke out of the loop is not checkpointed; a
//    restart delivers it again.
// The checkpoint file trails the handled events by at most the writes in flight (one fsync), so a
// SIGKILL can repeat the last few events: delivery across a crash is at-least-once, and a sink that
// must hold each event once keeps its own position too (the logger's file, JetStream's msg id).
// Bookmarks and snapshot markers reach the caller's onBookmark/onSnapshot (never next()) at the
// same point of the stream: for the iterator, when the loop has handled everything before them.
// A bookmark moves the checkpoint, and so does a snapshot's completion; a SNAPSHOT entry does not
// (a restart before the snapshot is complete starts a new one).
import type { Observable } from 'rxjs';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { LEGACY_LOG_ID, type LogPosition } from '../model/log-lineage';
import { TaskEventType, type TaskEvent } from '../model/task';
import { DEFAULT_BACKOFF } from './backoff';
import { CheckpointWriter } from './checkpoint';
import { EventFeed, type FeedListener, type LogRestore, type SnapshotMarker } from './event-feed';
import { iterateFeed, observeFeed } from './feed-adapters';
import type { StreamError } from './stream-error';
import { planSubscription, type SubscribeOptions } from './subscribe-options';

/** Called with each checkpoint writer's final flush, so the client can wait for it on close(). */
export type FlushTracker = (flush: Promise<void>) => void;

interface Wiring {
  feed: EventFeed;
  checkpoint: CheckpointWriter | undefined;
}

/** What the feed hands on, in stream order; `logId` is the log the marker's sequence is of (LEGACY_LOG_ID from a server without identities). */
type Item =
  | { kind: 'event'; event: TaskEvent }
  | { kind: 'bookmark'; sequence: number; logId: string }
  | { kind: 'snapshot'; marker: SnapshotMarker; logId: string }
  | { kind: 'restore'; restore: LogRestore };

function wire(service: RiggerServiceClient, options: SubscribeOptions, handlers: { item(item: Item): void; error(error: unknown): void }): Wiring {
  const plan = planSubscription(options);
  let feed: EventFeed | undefined;
  const checkpoint =
    options.checkpoint === undefined
      ? undefined
      : new CheckpointWriter(options.checkpoint, plan.checkpointed, (error) => {
          feed?.close();
          handlers.error(error);
        });
  const logId = () => feed?.resumePosition?.logId ?? LEGACY_LOG_ID;
  const listener: FeedListener = {
    event: (event) => handlers.item({ kind: 'event', event }),
    bookmark: (sequence) => handlers.item({ kind: 'bookmark', sequence, logId: logId() }),
    snapshot: (marker) => handlers.item({ kind: 'snapshot', marker, logId: logId() }),
    restored: (restore) => handlers.item({ kind: 'restore', restore }),
    error: (error: StreamError) => handlers.error(error),
    // A live start is recorded at once, so a restart before the first event still has no gap.
    started: (position) => checkpoint?.advance(position),
    ...(options.onStatus && { status: options.onStatus }),
  };
  feed = new EventFeed(
    service,
    plan.filter,
    plan.startAfter,
    {
      backoff: { ...DEFAULT_BACKOFF, ...options.backoff },
      bookmarkIntervalMs: plan.bookmarkIntervalMs,
      includeSnapshot: plan.includeSnapshot,
      afterRestore: plan.afterRestore,
    },
    listener,
  );
  return { feed, checkpoint };
}

/** The position a handled item moves the checkpoint to, if any: a change, a bookmark, a completed snapshot, a restore's parting point. */
function checkpointOf(item: Item): LogPosition | undefined {
  if (item.kind === 'event')
    return item.event.event_type === TaskEventType.SNAPSHOT ? undefined : { sequence: item.event.sequence, logId: item.event.log_id ?? LEGACY_LOG_ID };
  if (item.kind === 'bookmark') return { sequence: item.sequence, logId: item.logId };
  if (item.kind === 'restore') return { sequence: item.restore.partedAfter, logId: item.restore.logId };
  return item.marker.state === 'complete' ? { sequence: item.marker.sequence, logId: item.logId } : undefined;
}

/** Hands a marker to the caller's callback; a callback that throws ends the subscription like a throwing next(). */
function notifyMarker(options: SubscribeOptions, item: Item): void {
  if (item.kind === 'bookmark') options.onBookmark?.(item.sequence, item.logId);
  else if (item.kind === 'snapshot') options.onSnapshot?.(item.marker);
  else if (item.kind === 'restore') options.onRestore?.(item.restore);
}

export function observeEvents(service: RiggerServiceClient, options: SubscribeOptions, track: FlushTracker): Observable<TaskEvent> {
  return observeFeed<TaskEvent>((subscriber) => {
    const wiring: Wiring = wire(service, options, {
      item: (item) => {
        if (item.kind === 'event') subscriber.next(item.event);
        else {
          try {
            notifyMarker(options, item);
          } catch (error) {
            subscriber.error(error);
            return;
          }
        }
        const sequence = checkpointOf(item);
        if (sequence !== undefined) wiring.checkpoint?.advance(sequence);
      },
      error: (error) => subscriber.error(error),
    });
    return { start: () => wiring.feed.start(), stop: () => stop(wiring, track) };
  });
}

const HIGH_WATER = 256;
const LOW_WATER = 64;

export function iterateEvents(service: RiggerServiceClient, options: SubscribeOptions, track: FlushTracker): AsyncIterableIterator<TaskEvent> {
  return iterateFeed<Item, TaskEvent>((queue) => {
    /** The checkpoint the item last handed to the loop moves to once the loop is done with it. */
    let pendingCheckpoint: LogPosition | undefined;
    const wiring: Wiring = wire(service, options, {
      item: (item) => {
        queue.push(item);
        if (queue.length >= HIGH_WATER) wiring.feed.pause();
      },
      error: (error) => queue.fail(error),
    });
    return {
      start: () => wiring.feed.start(),
      stop: () => stop(wiring, track),
      handled: () => {
        if (pendingCheckpoint !== undefined) wiring.checkpoint?.advance(pendingCheckpoint);
        pendingCheckpoint = undefined;
      },
      accept: (item) => {
        if (queue.length <= LOW_WATER) wiring.feed.resume();
        if (item.kind === 'event') {
          pendingCheckpoint = checkpointOf(item);
          return item.event;
        }
        // A marker: everything before it is handled, so it takes effect now (a throw ends the loop).
        notifyMarker(options, item);
        const sequence = checkpointOf(item);
        if (sequence !== undefined) wiring.checkpoint?.advance(sequence);
        return undefined;
      },
    };
  });
}

/** The caller is done: the feed closes, and the checkpoint's last write is waited for by client.close(). */
function stop(wiring: Wiring, track: FlushTracker): void {
  wiring.feed.close();
  if (wiring.checkpoint) track(wiring.checkpoint.flush());
}
