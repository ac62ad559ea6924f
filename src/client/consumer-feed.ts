// One member of a durable consumer: keeps a ConsumeTaskEvents stream open across server restarts
// and connection losses, joining again each time (the server keeps the position, so nothing is
// resumed here). Acks not yet confirmed durable (acks_committed) when a stream is lost are sent
// again on the next one; an ack's promise resolves once the server has it on disk.
import * as grpc from '@grpc/grpc-js';
import type { ConsumeRequest } from '../generated/rigger/v1/ConsumeRequest';
import type { ConsumeResponse__Output } from '../generated/rigger/v1/ConsumeResponse';
import type { ConsumerConfig } from '../generated/rigger/v1/ConsumerConfig';
import type { ConsumerInfo__Output } from '../generated/rigger/v1/ConsumerInfo';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { TaskEvent } from '../model/task';
import { backoffDelay, type BackoffOptions } from './backoff';
import { waitToRetry } from './retry-wait';
import { StreamError } from './stream-error';

export type ConsumerStreamStatus =
  | { state: 'connected'; consumer: ConsumerInfo__Output; reconnects: number }
  | { state: 'disconnected'; error: StreamError; attempt: number; retryInMs: number };

export interface ConsumerFeedListener {
  delivery(event: TaskEvent, attempt: number): void;
  /** The feed ended for good: a non-retryable status (OUT_OF_RANGE for a lost consumer, ...), or retries exhausted. */
  error(error: StreamError): void;
  status?(status: ConsumerStreamStatus): void;
}

/** How long a stream the server has not answered yet may wait for its answer before it is cancelled anyway. */
const UNANSWERED_CANCEL_MS = 2000;
/** How long a member leaving waits for the server to end its stream before it drops the call. */
const LEAVE_GRACE_MS = 2000;

interface PendingAck {
  resolve(): void;
  reject(error: Error): void;
}

export class ConsumerFeed {
  private call: grpc.ClientDuplexStream<ConsumeRequest, ConsumeResponse__Output> | undefined;
  private joined = false;
  private closed = false;
  private attempt = 0;
  private everJoined = false;
  private reconnects = 0;
  private cancelRetry: (() => void) | undefined;
  private cancelCall: (() => void) | undefined;
  /** Acked, not yet confirmed durable: resent after a reconnect. */
  private readonly unconfirmed = new Map<number, PendingAck[]>();

  constructor(
    private readonly service: RiggerServiceClient,
    private readonly join: ConsumerConfig,
    private readonly backoff: Required<BackoffOptions>,
    private readonly listener: ConsumerFeedListener,
  ) {}

  start(): void {
    this.open();
  }

  /** Resolves once the server has written the ack (it is then never delivered to this consumer again). */
  ack(sequence: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (this.closed) return reject(new Error(`the consumer stream is closed; the ack of ${sequence} was not sent`));
      const waiting = this.unconfirmed.get(sequence);
      if (waiting) waiting.push({ resolve, reject });
      else this.unconfirmed.set(sequence, [{ resolve, reject }]);
      this.send({ ack: { sequences: [sequence] } });
    });
  }

  nak(sequence: number, options: { delayMs?: number; reason?: string; deadLetter?: boolean } = {}): void {
    this.send({
      nak: { sequence, ...(options.delayMs !== undefined && { delay_ms: options.delayMs }), ...(options.reason !== undefined && { reason: options.reason }), ...(options.deadLetter === true && { dead_letter: true }) },
    });
  }

  inProgress(sequence: number): void {
    this.send({ in_progress: { sequences: [sequence] } });
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
      call.end();
      setTimeout(() => call.cancel(), LEAVE_GRACE_MS).unref();
    } else {
      this.cancelCall?.();
    }
    this.call = undefined;
    const error = new Error('the consumer was closed before the server confirmed this ack; the event may be delivered again');
    for (const waiting of this.unconfirmed.values()) for (const pending of waiting) pending.reject(error);
    this.unconfirmed.clear();
  }

  /** Sent now when joined; otherwise dropped (naks, in_progress) or resent after the next join (acks). */
  private send(request: ConsumeRequest): void {
    if (this.call && this.joined) this.call.write(request);
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
      if (!this.closed) this.lost(error ? StreamError.from(error) : new StreamError(grpc.status.UNAVAILABLE, 'the server ended the consumer stream'));
    };
    call.on('metadata', () => {
      answered = true;
    });
    call.on('data', (response: ConsumeResponse__Output) => {
      if (this.closed || finished) return;
      if (response.joined) {
        this.joined = true;
        if (this.everJoined) this.reconnects++;
        this.everJoined = true;
        this.attempt = 0;
        // Acks whose confirmation was lost with the last stream: the server takes them again.
        if (this.unconfirmed.size > 0) call.write({ ack: { sequences: [...this.unconfirmed.keys()] } });
        this.listener.status?.({ state: 'connected', consumer: response.joined, reconnects: this.reconnects });
      } else if (response.delivery?.event) {
        const event = response.delivery.event as unknown as TaskEvent;
        // Handed out again before the server read the resent ack (it came back when the last stream
        // was lost): already handled here, so it is acked again rather than handled twice.
        if (this.unconfirmed.has(event.sequence)) return void call.write({ ack: { sequences: [event.sequence] } });
        this.listener.delivery(event, response.delivery.attempt ?? 1);
      } else if (response.acks_committed) {
        for (const sequence of response.acks_committed.sequences) {
          const waiting = this.unconfirmed.get(sequence);
          this.unconfirmed.delete(sequence);
          for (const pending of waiting ?? []) pending.resolve();
        }
      }
    });
    call.on('error', (error: grpc.ServiceError) => finish(error));
    call.on('end', () => finish());
    call.write({ join: this.join });
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
