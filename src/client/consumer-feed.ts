// One member of a durable consumer: keeps a ConsumeTaskEvents stream open across server restarts
// and connection losses, joining again each time (the server keeps the position, so nothing is
// resumed here). Each join is a new membership: a delivery is acked, nak'ed or kept alive by its
// delivery id, and only within the membership it came in. When a stream is lost, what it held is
// let go: acks not yet confirmed durable (acks_committed) reject, and the events are delivered
// again, here or to another member, never acked on the next stream behind the server's back (the
// server may have handed them to another member meanwhile). An ack resolves once it is on disk.
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest } from '../generated/rigger/v1/ConsumeRequest';
import type { ConsumeResponse__Output } from '../generated/rigger/v1/ConsumeResponse';
import type { ConsumerConfig } from '../generated/rigger/v1/ConsumerConfig';
import type { ConsumerInfo__Output } from '../generated/rigger/v1/ConsumerInfo';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import { truncateReason } from '../model/consumer';
import type { TaskEvent } from '../model/task';
import { LEGACY_LOG_ID } from '../model/log-lineage';
import { backoffDelay, type BackoffOptions } from './backoff';
import { waitToRetry } from './retry-wait';
import { StreamError } from './stream-error';

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

/** How long a stream the server has not answered yet may wait for its answer before it is cancelled anyway. */
const UNANSWERED_CANCEL_MS = 2000;
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
  private call: ConsumeCall | undefined;
  private joined = false;
  private closed = false;
  private attempt = 0;
  private everJoined = false;
  private reconnects = 0;
  /** Counts joins: a delivery belongs to the membership it came in. */
  private membership = 0;

  private cancelRetry: (() => void) | undefined;
  private cancelCall: (() => void) | undefined;
  /** Acked in this membership, not yet confirmed durable, by sequence. */
  private readonly unconfirmed = new Map<number, PendingAck>();
  /** Acks made while others wait for their confirmation, sent as one message at the end of this turn of the event loop. */
  private ackBatch: { call: ConsumeCall; ids: string[] } | undefined;

  constructor(
    private readonly service: RiggerServiceClient,
    private readonly join: ConsumerConfig,
    private readonly backoff: Required<BackoffOptions>,
    private readonly listener: ConsumerFeedListener,
  ) {}

  start(): void {
    this.open();
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
        return reject(new Error(`the stream that delivered ${sequence} was ${this.closed ? 'closed' : 'lost'}, so it was not acked; the event will be delivered again`));
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
    this.closed = true;
    this.cancelRetry?.();
    const call = this.call;
    if (call && this.joined) {
      this.sendAcks();
      call.end();
      setTimeout(() => call.cancel(), LEAVE_GRACE_MS).unref();
    } else {
      this.cancelCall?.();
    }
    this.call = undefined;
    this.letGo(new Error('the consumer was closed before the server confirmed this ack; the event may be delivered again'));
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
    for (let at = 0; at < batch.ids.length; at += MAX_IDS_PER_MESSAGE) batch.call.write({ ack: { delivery_ids: batch.ids.slice(at, at + MAX_IDS_PER_MESSAGE) } });
  }

  /** The membership is over: acks it did not see confirmed reject (their events may come again). */
  private letGo(error: Error): void {
    const pending = [...this.unconfirmed.values()];
    this.unconfirmed.clear();
    for (const ack of pending) settleAck(ack, error);
  }

  private open(): void {
    if (this.closed) return;
    const call = this.service.ConsumeTaskEvents();
    this.call = call;
    this.joined = false;
    let answered = false;
    let finished = false;
    // As in event-feed.ts: a call cancelled before the server answered it would be held by the server for good.
    this.cancelCall = () => {
      if (answered) return call.cancel();
      call.once('metadata', () => call.cancel());
      setTimeout(() => call.cancel(), UNANSWERED_CANCEL_MS).unref();
    };
    const finish = (error?: grpc.ServiceError) => {
      if (finished) return;
      finished = true;
      if (this.call === call) this.call = undefined;
      this.joined = false;
      this.letGo(new Error('the consumer stream was lost before the server confirmed this ack; the event may be delivered again'));
      if (!this.closed) this.lost(error ? StreamError.from(error) : new StreamError(grpc.status.UNAVAILABLE, 'the server ended the consumer stream'));
    };
    call.on('metadata', () => {
      answered = true;
    });
    call.on('data', (response: ConsumeResponse__Output) => {
      if (this.closed || finished) return;
      if (response.joined) {
        this.joined = true;
        this.membership++;
        if (this.everJoined) this.reconnects++;
        this.everJoined = true;
        this.attempt = 0;
        this.listener.status?.({ state: 'connected', consumer: response.joined, reconnects: this.reconnects });
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
    });
    call.on('error', (error: grpc.ServiceError) => finish(error));
    call.on('end', () => finish());
    call.write({ join: this.join });
  }

  /** The ack of `sequence` is durable (no error) or was refused. */
  private settle(sequence: number, error: Error | undefined): void {
    const pending = this.unconfirmed.get(sequence);
    if (!pending) return;
    this.unconfirmed.delete(sequence);
    settleAck(pending, error);
  }

  private lost(error: StreamError): void {
    if (!error.retryable) return this.fail(error);
    if (this.attempt >= this.backoff.maxAttempts) {
      return this.fail(new StreamError(error.code, `gave up after ${this.attempt} reconnect attempts: ${error.details}`, error.metadata));
    }
    const retryInMs = backoffDelay(this.attempt, this.backoff);
    this.attempt++;
    this.listener.status?.({ state: 'disconnected', error, attempt: this.attempt, retryInMs });
    this.cancelRetry = waitToRetry(this.service.getChannel(), retryInMs, () => this.open());
  }

  private fail(error: StreamError): void {
    this.listener.error(error);
    this.close();
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
