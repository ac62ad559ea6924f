// The two shapes a subscription takes: an RxJS Observable and an async iterator. Both sit on one
// EventFeed (reconnect + resume) and one optional CheckpointWriter. When is an event "handled"?
//  - Observable: when the observer's next() has returned. Keep next() synchronous, or use the
//    iterator: a checkpoint written after next() started async work could get ahead of that work.
//  - Async iterator: when the loop comes back for the next event, so everything the loop body
//    awaited is done. An event whose body threw or broke out of the loop is not checkpointed; a
//    restart delivers it again.
// The checkpoint file trails the handled events by at most the writes in flight (one fsync), so a
// SIGKILL can repeat the last few events: delivery across a crash is at-least-once, and a sink that
// must hold each event once keeps its own position too (the logger's file, JetStream's msg id).
import { Observable } from 'rxjs';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { TaskEvent } from '../model/task';
import { DEFAULT_BACKOFF } from './backoff';
import { CheckpointWriter } from './checkpoint';
import { EventFeed, type FeedListener } from './event-feed';
import type { StreamError } from './stream-error';
import { planSubscription, type SubscribeOptions } from './subscribe-options';

/** Called with each checkpoint writer's final flush, so the client can wait for it on close(). */
export type FlushTracker = (flush: Promise<void>) => void;

interface Wiring {
  feed: EventFeed;
  checkpoint: CheckpointWriter | undefined;
}

function wire(
  service: RiggerServiceClient,
  options: SubscribeOptions,
  handlers: { event(event: TaskEvent): void; error(error: unknown): void },
  advanceOnStart: boolean,
): Wiring {
  const plan = planSubscription(options);
  let feed: EventFeed | undefined;
  const checkpoint =
    options.checkpoint === undefined
      ? undefined
      : new CheckpointWriter(options.checkpoint, plan.startAfter, (error) => {
          feed?.close();
          handlers.error(error);
        });
  const listener: FeedListener = {
    event: handlers.event,
    error: (error: StreamError) => handlers.error(error),
    // A live start is recorded at once, so a restart before the first event still has no gap.
    started: (position) => {
      if (advanceOnStart) checkpoint?.advance(position);
    },
    ...(options.onStatus && { status: options.onStatus }),
  };
  feed = new EventFeed(service, plan.filter, plan.startAfter, { ...DEFAULT_BACKOFF, ...options.backoff }, listener);
  return { feed, checkpoint };
}

export function observeEvents(service: RiggerServiceClient, options: SubscribeOptions, track: FlushTracker): Observable<TaskEvent> {
  return new Observable<TaskEvent>((subscriber) => {
    let wiring: Wiring;
    try {
      wiring = wire(
        service,
        options,
        {
          event: (event) => {
            subscriber.next(event);
            wiring.checkpoint?.advance(event.sequence);
          },
          error: (error) => subscriber.error(error),
        },
        true,
      );
    } catch (error) {
      subscriber.error(error);
      return undefined;
    }
    wiring.feed.start();
    return () => {
      wiring.feed.close();
      if (wiring.checkpoint) track(wiring.checkpoint.flush());
    };
  });
}

const HIGH_WATER = 256;
const LOW_WATER = 64;

export function iterateEvents(service: RiggerServiceClient, options: SubscribeOptions, track: FlushTracker): AsyncIterableIterator<TaskEvent> {
  const buffered: TaskEvent[] = [];
  let failure: unknown;
  let done = false;
  let wake: (() => void) | undefined;
  let lastYielded: number | undefined;
  const notify = () => {
    const resolve = wake;
    wake = undefined;
    resolve?.();
  };
  let wiring: Wiring | undefined;
  try {
    wiring = wire(
      service,
      options,
      {
        event: (event) => {
          buffered.push(event);
          if (buffered.length >= HIGH_WATER) wiring?.feed.pause();
          notify();
        },
        error: (error) => {
          failure ??= error;
          notify();
        },
      },
      true,
    );
    wiring.feed.start();
  } catch (error) {
    failure = error;
  }

  const finish = () => {
    done = true;
    wiring?.feed.close();
    if (wiring?.checkpoint) track(wiring.checkpoint.flush());
  };

  const iterator: AsyncIterableIterator<TaskEvent> = {
    async next(): Promise<IteratorResult<TaskEvent>> {
      // Coming back for more means the previous event is handled (unless the loop was left meanwhile).
      if (lastYielded !== undefined && !done) wiring?.checkpoint?.advance(lastYielded);
      for (;;) {
        if (done) return { done: true, value: undefined };
        const event = buffered.shift();
        if (event) {
          if (buffered.length <= LOW_WATER) wiring?.feed.resume();
          lastYielded = event.sequence;
          return { done: false, value: event };
        }
        if (failure !== undefined) {
          finish();
          throw failure;
        }
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
    async return(): Promise<IteratorResult<TaskEvent>> {
      finish();
      notify();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}
