// The two shapes a feed takes for its caller, the same for the event feed and the consumer feed:
// an async iterator (items wait in a PushQueue until the loop takes them) and an RxJS Observable
// (items go straight to the observer). What an item means is the feed's; when to start the feed,
// when to stop it and how a failure or an early exit reaches the caller are decided here.
import type { Observable, Subscriber } from 'rxjs';
import { PushQueue } from './push-queue';

/** A feed as the adapters drive it. */
export interface FeedSource {
  start(): void;
  /** The caller is done (left the loop, unsubscribed, or saw the feed fail): stop the feed. */
  stop(): void;
}

export interface IteratedFeed<Item, Value> extends FeedSource {
  /** The loop came back for more: the value it was given last is handled. */
  handled?(): void;
  /**
   * What an item taken from the queue is to the loop: its next value, or undefined to take the next
   * item (a marker dealt with here, a delivery gone stale). A throw ends the loop with that error.
   */
  accept(item: Item): Value | undefined;
}

/** `create` wires a feed to push into the queue (and fail it); a throw from it or from start() is the loop's first error. */
export function iterateFeed<Item, Value>(create: (queue: PushQueue<Item>) => IteratedFeed<Item, Value>): AsyncIterableIterator<Value> {
  const queue = new PushQueue<Item>();
  let feed: IteratedFeed<Item, Value> | undefined;
  try {
    feed = create(queue);
    feed.start();
  } catch (error) {
    queue.fail(error);
  }
  const finish = () => {
    queue.close();
    feed?.stop();
  };
  const iterator: AsyncIterableIterator<Value> = {
    async next(): Promise<IteratorResult<Value>> {
      // Coming back for more means the previous value is handled (unless the loop was left meanwhile).
      if (!queue.closed) feed?.handled?.();
      for (;;) {
        let value: Value | undefined;
        try {
          const item = await queue.take();
          if (item === undefined) return { done: true, value: undefined };
          value = feed!.accept(item);
        } catch (error) {
          finish();
          throw error;
        }
        if (value !== undefined) return { done: false, value };
      }
    },
    async return(): Promise<IteratorResult<Value>> {
      finish();
      return { done: true, value: undefined };
    },
    [Symbol.asyncIterator]() {
      return iterator;
    },
  };
  return iterator;
}

/** `create` wires a feed to the subscriber; a throw from it errors the Observable, and unsubscribing stops the feed. */
export function observeFeed<Value>(create: (subscriber: Subscriber<Value>) => FeedSource): Observable<Value> {
  // rxjs is loaded by the first Observable made: a program that only calls unary RPCs (rig consumers) never loads it.
  const { Observable: RxObservable } = require('rxjs') as typeof import('rxjs');
  return new RxObservable<Value>((subscriber) => {
    let feed: FeedSource;
    try {
      feed = create(subscriber);
    } catch (error) {
      subscriber.error(error);
      return undefined;
    }
    feed.start();
    return () => feed.stop();
  });
}
