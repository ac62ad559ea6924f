// client.consume(name, options): a durable consumer's deliveries as an async iterator or an RxJS
// Observable, each with ack() / nak() / inProgress(). Nothing is acked for the caller: an event
// not acked within the consumer's ack wait (or whose member went away) is delivered again, to
// this member or another of the same name.
import type { Observable } from 'rxjs';
import type { ConsumerConfig } from '../generated/rigger/v1/ConsumerConfig';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { invalidArgument } from '../model/errors';
import type { TaskEvent } from '../model/task';
import { DEFAULT_BACKOFF, type BackoffOptions } from './backoff';
import { ConsumerFeed, type ConsumerStreamStatus } from './consumer-feed';
import { iterateFeed, observeFeed } from './feed-adapters';
import { planSubscription, type SubscribeOptions } from './subscribe-options';

export interface ConsumeOptions extends Pick<SubscribeOptions, 'eventTypes' | 'assignee' | 'statuses' | 'taskIds'> {
  /**
   * The filter, settings and start apply when the consumer is created here (on first use); for an
   * existing consumer, those given must match it (FAILED_PRECONDITION otherwise). `filter: false`
   * joins by name alone, whatever the consumer's filter is.
   */
  filter?: boolean;
  /** Where a new consumer starts: after this sequence (0 = all retained history); absent = new events only. */
  startSequence?: number;
  ackWaitMs?: number;
  maxDeliver?: number;
  backoffMs?: number[];
  maxInFlight?: number;
  /** Reconnect backoff. */
  backoff?: BackoffOptions;
  onStatus?: (status: ConsumerStreamStatus) => void;
}

/** One delivery of an event to this member. */
export interface ConsumedEvent {
  readonly event: TaskEvent;
  readonly sequence: number;
  /** 1 on the first delivery to this consumer, then 2, 3, ... on redeliveries. */
  readonly attempt: number;
  /** Names this member and attempt: what the server accepts an ack, nak or in_progress of. */
  readonly deliveryId: string;
  /**
   * Handled: resolves once the server has written it (never delivered to this consumer again).
   * Rejects when the stream it came on was lost first, or the server refused it (the delivery was
   * no longer this member's): the event is then delivered again.
   */
  ack(): Promise<void>;
  /**
   * Not handled: deliver it again after `delayMs` (default: the consumer's backoff). `deadLetter`:
   * a permanent failure, recorded as a dead letter now with `reason` and never redelivered.
   */
  nak(options?: { delayMs?: number; reason?: string; deadLetter?: boolean }): void;
  /** Still working on it: its ack wait starts again. */
  inProgress(): void;
  /** False once the stream it came on is gone: it can no longer be settled here, and will be delivered again. */
  held(): boolean;
}

export function joinConfigOf(name: string, options: ConsumeOptions): ConsumerConfig {
  if (name === '') throw invalidArgument('consume needs a consumer name');
  const { eventTypes, assignee, statuses, taskIds } = options;
  const { filter } = planSubscription({
    bookmarkIntervalMs: 0,
    ...(eventTypes && { eventTypes }),
    ...(assignee !== undefined && { assignee }),
    ...(statuses && { statuses }),
    ...(taskIds && { taskIds }),
  });
  return {
    name,
    ...(options.filter !== false && { filter }),
    ...(options.startSequence !== undefined && { start_sequence: options.startSequence }),
    ...(options.ackWaitMs !== undefined && { ack_wait_ms: options.ackWaitMs }),
    ...(options.maxDeliver !== undefined && { max_deliver: options.maxDeliver }),
    ...(options.backoffMs !== undefined && { backoff_ms: options.backoffMs }),
    ...(options.maxInFlight !== undefined && { max_in_flight: options.maxInFlight }),
  };
}

function feedFor(
  service: RiggerServiceClient,
  name: string,
  options: ConsumeOptions,
  delivered: (item: ConsumedEvent) => void,
  failed: (error: unknown) => void,
): ConsumerFeed {
  const feed: ConsumerFeed = new ConsumerFeed(
    service,
    joinConfigOf(name, options),
    { ...DEFAULT_BACKOFF, ...options.backoff },
    {
      delivery: (delivery) =>
        delivered({
          event: delivery.event,
          sequence: delivery.event.sequence,
          attempt: delivery.attempt,
          deliveryId: delivery.deliveryId,
          ack: () => feed.ack(delivery),
          nak: (nakOptions) => feed.nak(delivery, nakOptions),
          inProgress: () => feed.inProgress(delivery),
          held: () => feed.holds(delivery),
        }),
      error: failed,
      ...(options.onStatus && { status: options.onStatus }),
    },
  );
  return feed;
}

export function observeConsumer(service: RiggerServiceClient, name: string, options: ConsumeOptions): Observable<ConsumedEvent> {
  return observeFeed<ConsumedEvent>((subscriber) => {
    const feed = feedFor(
      service,
      name,
      options,
      (item) => subscriber.next(item),
      (error) => subscriber.error(error),
    );
    return { start: () => feed.start(), stop: () => feed.close() };
  });
}

/** The deliveries as an async iterator; the server's max_in_flight bounds what waits here. */
export function iterateConsumer(service: RiggerServiceClient, name: string, options: ConsumeOptions): AsyncIterableIterator<ConsumedEvent> {
  return iterateFeed<ConsumedEvent, ConsumedEvent>((queue) => {
    const feed = feedFor(
      service,
      name,
      options,
      (item) => queue.push(item),
      (error) => queue.fail(error),
    );
    return {
      start: () => feed.start(),
      stop: () => feed.close(),
      // Deliveries of a stream lost while they waited here are skipped: they come again.
      accept: (item) => (item.held() ? item : undefined),
    };
  });
}
