// One member of a durable consumer: keeps a ConsumeTaskEvents stream open across server restarts
// and connection losses, joining again each time (the server keeps the position, so nothing is
// resumed here). Each join is a new membership: a delivery is acked, nak'ed or kept alive by its
// delivery id, and only within the membership it came in. When a stream is lost, what it held is
// let go: acks not yet confirmed durable (acks_committed) reject, and the events are delivered
// again, here or to another member, never acked on the next stream behind the server's back (the
// server may have handed them to another member meanwhile). An ack resolves once it is on disk.
// The rejoining is reconnect-loop.ts's; this file is its strategy, and the acks.
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest } from '../generated/rigger/v1/ConsumeRequest';
import type { ConsumeResponse__Output } from '../generated/rigger/v1/ConsumeResponse';
import type { ConsumerConfig } from '../generated/rigger/v1/ConsumerConfig';
import type { ConsumerInfo__Output } from '../generated/rigger/v1/ConsumerInfo';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { truncateReason } from '../model/consumer';
import type { TaskEvent } from '../model/task';
import { LEGACY_LOG_ID } from '../model/log-lineage';
import type { BackoffOptions } from './backoff';
import { ReconnectLoop } from './reconnect-loop';
import { waitToRetry } from './retry-wait';
import type { StreamError } from './stream-error';

type ConsumeCall = grpc.ClientDuplexStream<ConsumeRequest, ConsumeResponse__Output>;

export type ConsumerStreamStatus =
  | { state: 'connected'; consumer: ConsumerInfo__Output; reconnects: number }
  | { state: 'disconnected'; error: StreamError; attempt: number; retryInMs: number };

/** One delivery as this feed knows it: what settles it, and the membership it came in. */
export interface FeedDelivery {
  readonly event: TaskEvent;
  readonly attempt: number;
  readonly deliveryId: string;
  readonly membership: number;
}

export interface ConsumerFeedListener {
  delivery(delivery: FeedDelivery): void;
  /** The feed ended for good: a non-retryable status (OUT_OF_RANGE for a lost consumer, ...), or retries exhausted. */
  error(error: StreamError): void;
  status?(status: ConsumerStreamStatus): void;
}

/** Delivery ids in one ack message, at most (the server takes up to 1,000). */
const MAX_IDS_PER_MESSAGE = 1000;
/** How long a member leaving waits for the server to end its stream before it drops the call. */
const LEAVE_GRACE_MS = 2000;

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/** An ack sent and not yet confirmed: the first waiter, and any of the same delivery acked again. */
interface PendingAck {
  readonly deliveryId: string;
  readonly resolve: () => void;
  readonly reject: (error: Error) => void;
  more: Waiter[] | undefined;
}

export class ConsumerFeed {
  private readonly loop: ReconnectLoop<ConsumeCall, ConsumeResponse__Output>;
  private joined = false;
  /** Counts joins: a delivery belongs to the membership it came in. */
  private membership = 0;

  /** Acked in this membership, not yet confirmed durable, by sequence. */
  private readonly unconfirmed = new Map<number, PendingAck>();
  /** Acks made while others wait for their confirmation, sent as one message at the end of this turn of the event loop. */
  private ackBatch: { call: ConsumeCall; ids: string[] } | undefined;

  constructor(
    service: RiggerServiceClient,
    join: ConsumerConfig,
    backoff: Required<BackoffOptions>,
    private readonly listener: ConsumerFeedListener,
  ) {
    this.loop = new ReconnectLoop<ConsumeCall, ConsumeResponse__Output>(
      {
        // Nothing to resume from: the server keeps the consumer's position.
        open: () => {
          const call = service.ConsumeTaskEvents();
          this.joined = false;
          call.write({ join });
          return call;
        },
        message: (response) => this.receive(response),
        ended: () => {
          this.joined = false;
          this.letGo(new Error('the consumer stream was lost before the server confirmed this ack; the event may be delivered again'));
        },
        leave: (call) => this.leave(call),
        disconnected: ({ error, attempt, retryInMs }) => this.listener.status?.({ state: 'disconnected', error, attempt, retryInMs }),
        failed: (error) => this.listener.error(error),
      },
      { backoff, wait: (delayMs, retry) => waitToRetry(service.getChannel(), delayMs, retry), endedDetails: 'the server ended the consumer stream' },
    );
  }

  start(): void {
    this.loop.start();
  }

  private get call(): ConsumeCall | undefined {
    return this.loop.call;
  }

  private get closed(): boolean {
    return this.loop.closed;
  }

  /** Whether `delivery` came in the membership now joined (only then can it be settled). */
  holds(delivery: FeedDelivery): boolean {
    return this.joined && !this.closed && delivery.membership === this.membership;
  }

  /** Resolves once the server has written the ack (it is then never delivered to this consumer again). */
  ack(delivery: FeedDelivery): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const sequence = delivery.event.sequence;
      if (!this.holds(delivery)) {
        return reject(
          new Error(`the stream that delivered ${sequence} was ${this.closed ? 'closed' : 'lost'}, so it was not acked; the event will be delivered again`),
        );
      }
      const pending = this.unconfirmed.get(sequence);
      if (pending?.deliveryId === delivery.deliveryId) return void (pending.more ??= []).push({ resolve, reject }); // acked twice: one ack
      // An ack of an earlier delivery of it still unanswered: that one can only be refused now.
      if (pending) this.settle(sequence, new Error(`the delivery of ${sequence} this ack was for had been delivered again (${delivery.deliveryId})`));
      this.unconfirmed.set(sequence, { deliveryId: delivery.deliveryId, resolve, reject, more: undefined });
      this.queueAck(delivery.deliveryId);
    });
  }

  /** Not handled: delivered again later; dropped when the delivery's stream is gone (it is delivered again anyway). */
  nak(delivery: FeedDelivery, options: { delayMs?: number; reason?: string; deadLetter?: boolean } = {}): void {
    if (!this.holds(delivery)) return;
    this.call!.write({
      nak: {
        sequence: delivery.event.sequence,
        delivery_id: delivery.deliveryId,
        ...(options.delayMs !== undefined && { delay_ms: options.delayMs }),
        ...(options.reason !== undefined && { reason: truncateReason(options.reason) }),
        ...(options.deadLetter === true && { dead_letter: true }),
      },
    });
  }

  inProgress(delivery: FeedDelivery): void {
    if (this.holds(delivery)) this.call!.write({ in_progress: { delivery_ids: [delivery.deliveryId] } });
  }

  /**
   * Leaves the consumer: the acks, naks and in_progress already written go out first (the stream is
   * half-closed, and the server ends it once it has read them), then the call is dropped.
   */
  close(): void {
    if (this.closed) return;
    this.loop.close();
    this.letGo(new Error('the consumer was closed before the server confirmed this ack; the event may be delivered again'));
  }

  /** A joined member leaves by half-closing its stream (a member not yet joined has its call cancelled). */
  private leave(call: ConsumeCall): boolean {
    if (!this.joined) return false;
    this.sendAcks();
    call.end();
    setTimeout(() => call.cancel(), LEAVE_GRACE_MS).unref();
    return true;
  }

  /**
   * An ack alone (none other waiting for confirmation) goes out at once; while others wait, acks
   * gather until the end of this turn and go as one message (as Nagle's rule): a busy member sends
   * one message for many deliveries, an idle one loses no time.
   */
  private queueAck(deliveryId: string): void {
    if (this.unconfirmed.size === 1 && !this.ackBatch) return void this.call!.write({ ack: { delivery_ids: [deliveryId] } });
    if (!this.ackBatch || this.ackBatch.call !== this.call) {
      this.ackBatch = { call: this.call!, ids: [] };
      setImmediate(() => this.sendAcks());
    }
    this.ackBatch.ids.push(deliveryId);
  }

  /** Sends the acks batched for the stream now joined (those of a lost stream were let go with it). */
  private sendAcks(): void {
    const batch = this.ackBatch;
    this.ackBatch = undefined;
    if (!batch || batch.call !== this.call || !this.joined) return;
    for (let at = 0; at < batch.ids.length; at += MAX_IDS_PER_MESSAGE)
      batch.call.write({ ack: { delivery_ids: batch.ids.slice(at, at + MAX_IDS_PER_MESSAGE) } });
  }

  /** The membership is over: acks it did not see confirmed reject (their events may come again). */
  private letGo(error: Error): void {
    const pending = [...this.unconfirmed.values()];
    this.unconfirmed.clear();
    for (const ack of pending) settleAck(ack, error);
  }

  private receive(response: ConsumeResponse__Output): void {
    if (response.joined) {
      this.joined = true;
      this.membership++;
      const reconnects = this.loop.connected();
      this.listener.status?.({ state: 'connected', consumer: response.joined, reconnects });
    } else if (response.delivery?.event) {
      const { delivery } = response;
      const event = delivery.event as unknown as TaskEvent;
      event.log_id ??= LEGACY_LOG_ID; // written before logs had identities
      this.listener.delivery({ event, attempt: delivery.attempt ?? 1, deliveryId: delivery.delivery_id ?? '', membership: this.membership });
    } else if (response.acks_committed) {
      for (const sequence of response.acks_committed.sequences) this.settle(sequence, undefined);
    } else if (response.refused) {
      const { refused } = response;
      const error = new Error(`the server refused the ack: ${refused.reason}`);
      for (const sequence of refused.sequences) this.settle(sequence, error);
      for (const id of refused.delivery_ids) {
        for (const [sequence, pending] of this.unconfirmed) if (pending.deliveryId === id) this.settle(sequence, error);
      }
    }
  }

  /** The ack of `sequence` is durable (no error) or was refused. */
  private settle(sequence: number, error: Error | undefined): void {
    const pending = this.unconfirmed.get(sequence);
    if (!pending) return;
    this.unconfirmed.delete(sequence);
    settleAck(pending, error);
  }
}

function settleAck(ack: PendingAck, error: Error | undefined): void {
  if (error) ack.reject(error);
  else ack.resolve();
  for (const waiter of ack.more ?? []) {
    if (error) waiter.reject(error);
    else waiter.resolve();
  }
}
