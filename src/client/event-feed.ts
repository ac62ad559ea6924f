// One resumable subscription: keeps a SubscribeToTaskEvents stream open across server restarts
// and connection losses, reopening it with since_sequence = the last event received, so the
// events handed on are gap-free (among those the filter matches), in order and each only once.
import * as grpc from '@grpc/grpc-js';
import type { RiggerServiceClient } from '../generated/rigger/v1/RiggerService';
import type { SubscribeToTaskEventsRequest } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent as WireTaskEvent } from '../generated/rigger/v1/TaskEvent';
import { POSITION_HEADER } from '../protocol/metadata';
import type { TaskEvent } from '../model/task';
import { backoffDelay, type BackoffOptions } from './backoff';
import { StreamError } from './stream-error';

export type FeedStatus =
  /** The stream is open; `position` is the sequence it resumes after. */
  | { state: 'connected'; position: number | undefined; reconnects: number }
  /** The stream was lost and will be reopened after `retryInMs`. */
  | { state: 'disconnected'; error: StreamError; attempt: number; retryInMs: number };

export interface FeedListener {
  event(event: TaskEvent): void;
  /** The stream ended for good: a non-retryable status, or retries exhausted. */
  error(error: StreamError): void;
  /** A live start learned its position (the server's newest sequence when it subscribed). */
  started?(position: number): void;
  status?(status: FeedStatus): void;
}

export type FeedFilter = Omit<SubscribeToTaskEventsRequest, 'since_sequence'>;

/** How long a stream the server has not answered yet may wait for its answer before it is cancelled anyway. */
const UNANSWERED_CANCEL_MS = 2000;

export class EventFeed {
  private call: grpc.ClientReadableStream<WireTaskEvent> | undefined;
  private cancelCall: (() => void) | undefined;
  private position: number | undefined;
  private attempt = 0;
  private everConnected = false;
  private reconnects = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private paused = false;
  private closed = false;

  constructor(
    private readonly service: RiggerServiceClient,
    private readonly filter: FeedFilter,
    startAfter: number | undefined,
    private readonly backoff: Required<BackoffOptions>,
    private readonly listener: FeedListener,
  ) {
    this.position = startAfter;
  }

  start(): void {
    this.open();
  }

  /** Stops reading from the network (the server then holds back, see the hub's back-pressure). */
  pause(): void {
    this.paused = true;
    this.call?.pause();
  }

  resume(): void {
    this.paused = false;
    this.call?.resume();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    this.cancelCall?.();
    this.call = undefined;
  }

  private open(): void {
    if (this.closed) return;
    const request: SubscribeToTaskEventsRequest = {
      ...this.filter,
      ...(this.position !== undefined && { since_sequence: this.position }),
    };
    const call = this.service.SubscribeToTaskEvents(request);
    this.call = call;
    let answered = false;
    // grpc-js sends no RST_STREAM for a call cancelled before the server has answered it on a ready
    // connection, so the server would hold that stream for good: cancel once the headers are in.
    this.cancelCall = () => {
      if (answered) return call.cancel();
      const cancel = () => call.cancel();
      call.once('metadata', cancel);
      setTimeout(cancel, UNANSWERED_CANCEL_MS).unref();
    };
    let finished = false;
    const finish = (error?: grpc.ServiceError) => {
      if (finished) return;
      finished = true;
      if (this.call === call) this.call = undefined;
      if (!this.closed) this.lost(error ? StreamError.from(error) : new StreamError(grpc.status.UNAVAILABLE, 'the server ended the stream'));
    };
    call.on('metadata', (metadata: grpc.Metadata) => {
      answered = true;
      if (this.closed) return;
      const header = metadata.get(POSITION_HEADER)[0];
      if (this.position === undefined && header !== undefined) {
        this.position = Number(header);
        this.listener.started?.(this.position);
      }
      if (this.everConnected) this.reconnects++;
      this.everConnected = true;
      this.attempt = 0;
      this.listener.status?.({ state: 'connected', position: this.position, reconnects: this.reconnects });
    });
    call.on('data', (wire: WireTaskEvent) => {
      if (this.closed) return;
      const event = wire as unknown as TaskEvent;
      if (this.position !== undefined && event.sequence <= this.position) return;
      this.position = event.sequence;
      this.listener.event(event);
    });
    call.on('error', (error: grpc.ServiceError) => finish(error));
    call.on('end', () => finish());
    if (this.paused) call.pause();
  }

  private lost(error: StreamError): void {
    if (!error.retryable) return this.fail(error);
    if (this.attempt >= this.backoff.maxAttempts) {
      return this.fail(new StreamError(error.code, `gave up after ${this.attempt} reconnect attempts: ${error.details}`, error.metadata));
    }
    const retryInMs = backoffDelay(this.attempt, this.backoff);
    this.attempt++;
    this.listener.status?.({ state: 'disconnected', error, attempt: this.attempt, retryInMs });
    this.retryTimer = setTimeout(() => this.open(), retryInMs);
  }

  private fail(error: StreamError): void {
    this.closed = true;
    this.listener.error(error);
  }
}
