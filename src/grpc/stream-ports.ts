// The gRPC side of the hub's stream sessions (src/hub/*-session.ts): each port writes a session's
// messages to its call, encoded, through the call's EventStreamWriter, and ends the call with a
// status. Also the two things every streaming handler does the same way: find the call's writer,
// and release the session when the call ends.
import type { EventEmitter } from 'node:events';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { Refusal } from '../hub/consumer-group';
import type { ConsumerStatus } from '../hub/consumer-registry';
import type { ConsumeStreamPort } from '../hub/consume-session';
import type { EventStreamPort } from '../hub/subscribe-session';
import type { LoggedEvent } from '../model/logged-event';
import { TaskEventType } from '../model/task';
import { encodeConsumeResponse, encodeDelivery } from '../protocol/consumer-codec';
import { taskEventEncoder } from '../protocol/event-codec';
import { LOG_ID_HEADER, POSITION_HEADER } from '../protocol/metadata';
import { consumerInfoOf } from './consumer-info';
import type { ServiceContext } from './context';
import { toServiceError } from './errors';
import type { EventStreamWriter } from './stream-writer';

interface StreamCall extends EventEmitter {
  readonly metadata: grpc.Metadata;
  getPath(): string;
  getPeer(): string;
  sendMetadata(metadata: grpc.Metadata): void;
}

/** The call's writer (stream-writer.ts); throws when the writers' interceptor is missing (a wiring bug). */
export function writerOf(context: ServiceContext, call: StreamCall): EventStreamWriter {
  const writer = context.writerFor(call.metadata);
  if (!writer) throw new Error(`no EventStreamWriter for ${call.getPath()}: the writers' interceptor must be installed`);
  return writer;
}

/** Releases `session` when the call ends for any reason, so nothing it holds outlives its stream. */
export function releaseOnEnd(call: EventEmitter, session: { release(): void }): void {
  const release = () => session.release();
  // `on`, not `once`: release runs once anyway, and each `once` would hold a wrapper per stream for as long as it is open.
  for (const event of ['cancelled', 'close', 'finish', 'error']) call.on(event, release);
}

/** A class, so an idle stream holds one small object, not an object and a closure per method. */
abstract class CallPort {
  constructor(
    protected readonly writer: EventStreamWriter,
    protected readonly call: StreamCall,
    protected readonly logger: Logger,
    protected readonly logId: string,
  ) {}

  get peer(): string {
    return this.call.getPeer();
  }

  get queuedBytes(): number {
    return this.writer.queuedBytes;
  }

  onDrain(callback: () => void): void {
    this.writer.onDrain(callback);
  }

  fail(error: unknown): void {
    this.call.emit('error', toServiceError(error, this.logger));
  }
}

/** SubscribeToTaskEvents and TaskEventStream: events written as stored, bookmarks encoded per stream. */
export class EventCallPort extends CallPort implements EventStreamPort {
  write(event: LoggedEvent): boolean {
    return this.writer.write(event.encoded);
  }

  /** Encoded here, per stream that asked: a bookmark is never in the log, the ring or any count of events. */
  writeBookmark(sequence: number): boolean {
    return this.writer.write(
      taskEventEncoder.encode({ sequence, timestamp: new Date().toISOString(), event_type: TaskEventType.BOOKMARK, log_id: this.logId }),
    );
  }

  sendPosition(sequence: number): void {
    const metadata = new grpc.Metadata();
    metadata.set(POSITION_HEADER, String(sequence));
    metadata.set(LOG_ID_HEADER, this.logId);
    this.call.sendMetadata(metadata);
  }
}

type ConsumeCall = StreamCall & { pause(): unknown; resume(): unknown; end(): unknown };

/** ConsumeTaskEvents: deliveries wrap the event's stored bytes (protocol/consumer-codec.ts). */
export class ConsumeCallPort extends CallPort implements ConsumeStreamPort {
  declare protected readonly call: ConsumeCall;

  get full(): boolean {
    return this.writer.full;
  }

  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  deliver(event: LoggedEvent, attempt: number, deliveryId: string): boolean {
    return this.writer.write(encodeDelivery(event.encoded, attempt, deliveryId));
  }

  committed(sequences: number[], ackedSequence: number): void {
    this.writer.write(encodeConsumeResponse({ acks_committed: { sequences, acked_sequence: ackedSequence } }));
  }

  /** The log's identity goes with the join's answer: deliveries' sequences are of it. */
  joined(status: ConsumerStatus): void {
    const headers = new grpc.Metadata();
    headers.set(LOG_ID_HEADER, this.logId);
    this.call.sendMetadata(headers);
    this.writer.write(encodeConsumeResponse({ joined: consumerInfoOf(status) }));
  }

  refused(refusal: Refusal): void {
    this.writer.write(
      encodeConsumeResponse({ refused: { sequences: refusal.sequences, delivery_ids: refusal.deliveryIds, reason: refusal.reason, count: refusal.count } }),
    );
  }

  finish(): void {
    this.call.end();
  }
}
