// The bridge's two ways to know what JetStream already holds, each a small strategy over one
// Publisher: the hub stream (resume after the stream's last message of this project) and a
// durable Rigger consumer (--consumer: the server keeps the position; a repeat after a crash is
// dropped by its Nats-Msg-Id within the stream's duplicate window).
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { backoffDelay, DEFAULT_BACKOFF } from '../src/client/backoff';
import { CheckpointWriter } from '../src/client/checkpoint';
import type { LogPosition, LogRestore, RiggerClient, StreamStatus } from '../src/client/index';
import { LEGACY_LOG_ID, type ResumePoint } from '../src/model/log-lineage';
import type { Publisher } from './nats-publisher';
import { consumeOptionsOf, continueAfterRestore, logStatus, type SidecarOptions } from './shared';

/** How one NATS session publishes. */
export interface BridgeMode {
  /** Log fields saying where this session starts; `inStream` is the stream's last message of the project. */
  start(inStream: LogPosition | undefined): Promise<Record<string, unknown>>;
  /** Publishes until the rigger stream ends (done) or fails (rejects); started after start(). */
  pump(publisher: Publisher): Promise<void>;
  /** Ends the rigger stream of the session in progress, after the publish in flight. */
  end(): Promise<void>;
}

/** The hub's own event stream, resumed after the stream's last message (or the position this process holds, when later). */
export class HubStreamMode implements BridgeMode {
  private readonly filters: SidecarOptions['subscription'];
  private readonly onStatus: (status: StreamStatus) => void;
  /** Everything matching up to here is in JetStream as far as this bridge knows: --checkpoint/--since, a live start's head, the last acknowledged, a bookmark. */
  private position: ResumePoint | undefined;
  /** The last position this process saw acknowledged by JetStream (published or dropped as a repeat). */
  private lastAcknowledged: LogPosition | undefined;
  private resumeAfter: ResumePoint | undefined;
  private current: AsyncIterableIterator<unknown> | undefined;

  constructor(
    options: SidecarOptions,
    private readonly client: RiggerClient,
    private readonly logger: Logger,
    private readonly checkpoint: CheckpointWriter | undefined,
    firstStart: ResumePoint | undefined,
  ) {
    const { checkpoint: _file, sinceSequence: _since, ...filters } = options.subscription;
    this.filters = filters;
    this.position = firstStart;
    this.onStatus = logStatus(logger, (status) => {
      // A live start (nothing in the stream, no --since): its head is where a later session resumes.
      if (status.state === 'connected' && this.position === undefined && status.position !== undefined && status.logId !== undefined) {
        this.position = { sequence: status.position, logId: status.logId };
      }
    });
  }

  async start(inStream: LogPosition | undefined): Promise<Record<string, unknown>> {
    const resumeAfter = (this.resumeAfter = await this.resumePoint(inStream));
    return {
      resume_after: resumeAfter?.sequence ?? 'live',
      ...(resumeAfter && { resume_log_id: resumeAfter.logId }),
      decided_by: resumeAfter === undefined ? 'live start' : resumeAfter === inStream ? 'last message in the stream' : 'position',
    };
  }

  async pump(publisher: Publisher): Promise<void> {
    const resumeAfter = this.resumeAfter;
    const events = this.client.events({
      ...this.filters,
      ...(resumeAfter !== undefined && { sinceSequence: resumeAfter.sequence, ...(resumeAfter.logId !== undefined && { sinceLogId: resumeAfter.logId }) }),
      ...continueAfterRestore(this.logger, (restore) => this.restored(restore)),
      onStatus: this.onStatus,
      onBookmark: (sequence, logId) => this.passed({ sequence, logId }),
    });
    this.current = events;
    try {
      // One publish at a time, each acknowledged before the next: the stream's order is sequence order.
      for (;;) {
        const next = await events.next(); // a rejection here is the rigger stream's terminal error
        if (next.done) return;
        await publisher.publish(next.value);
        const position = { sequence: next.value.sequence, logId: next.value.log_id ?? LEGACY_LOG_ID };
        this.position = this.lastAcknowledged = position;
        this.checkpoint?.advance(position);
      }
    } finally {
      this.current = undefined;
      await events.return?.();
    }
  }

  async end(): Promise<void> {
    await this.current?.return?.();
  }

  /** Where a session resumes, given the position of the stream's last message of ours (if any). */
  private async resumePoint(inStream: LogPosition | undefined): Promise<ResumePoint | undefined> {
    const position = this.position;
    if (inStream === undefined || position === undefined) return inStream ?? position;
    if (position.logId === undefined || inStream.logId === position.logId) {
      // The stream lost messages this process had published (a NATS crash): publish them again.
      if (this.lastAcknowledged?.logId === inStream.logId && inStream.sequence < this.lastAcknowledged.sequence) return inStream;
      return inStream.sequence >= position.sequence ? inStream : position;
    }
    // Positions of two logs (a restore between them): the one of the server's log now is the newer.
    const current = (await this.client.getLog()).log_id;
    return position.logId === current ? position : inStream;
  }

  /** A bookmark: every matching event up to it is acknowledged (the iterator hands it on only after them). */
  private passed(position: LogPosition): void {
    if (this.position !== undefined && (this.position.logId ?? position.logId) === position.logId && position.sequence <= this.position.sequence) return;
    this.position = position;
    this.checkpoint?.advance(position);
  }

  /** The rigger log was restored past the position: the new log's events after the parting point follow. */
  private restored(restore: LogRestore): void {
    const position = { sequence: restore.partedAfter, logId: restore.logId };
    this.position = position;
    this.checkpoint?.advance(position);
  }
}

/**
 * --consumer NAME: each delivery published (JetStream acknowledged it), then acked to rigger. A
 * consumer the bridge creates has max_in_flight 1, so the next event comes only once the last is
 * acked and the stream gets the project's events in sequence order; one made otherwise keeps its
 * settings, and the stream then has each task's events in order only.
 */
export class ConsumerMode implements BridgeMode {
  private current: AsyncIterableIterator<unknown> | undefined;
  private ended = false;

  constructor(
    private readonly options: SidecarOptions & { consumer: string },
    private readonly client: RiggerClient,
    private readonly logger: Logger,
  ) {}

  async start(): Promise<Record<string, unknown>> {
    return { consumer: this.options.consumer, decided_by: `rigger consumer ${this.options.consumer}` };
  }

  async pump(publisher: Publisher): Promise<void> {
    this.ended = false;
    const existing = await this.existingConsumer();
    if (existing === 'ended') return;
    if (existing !== undefined && existing.maxInFlight > 1) {
      this.logger.warn(
        { consumer: this.options.consumer, max_in_flight: existing.maxInFlight },
        `consumer ${this.options.consumer} has max_in_flight ${existing.maxInFlight}: the stream gets each task's events in order, not the project's; for sequence order delete it (rig consumers delete ${this.options.consumer}) and let the bridge create it`,
      );
    }
    const options = { ...consumeOptionsOf(this.options, this.logger), ...(existing === undefined && { maxInFlight: 1 }) };
    const deliveries = this.client.consume(this.options.consumer, options);
    this.current = deliveries;
    try {
      for (;;) {
        const next = await deliveries.next();
        if (next.done) return;
        await publisher.publish(next.value.event);
        next.value.ack().catch(() => undefined); // unconfirmed: delivered again, dropped by JetStream as a repeat
      }
    } finally {
      this.current = undefined;
      await deliveries.return?.();
    }
  }

  async end(): Promise<void> {
    this.ended = true;
    await this.current?.return?.();
  }

  /** The consumer's max_in_flight if it exists, undefined if not; asked again until the server answers (or the session ends). */
  private async existingConsumer(): Promise<{ maxInFlight: number } | undefined | 'ended'> {
    for (let attempt = 0; ; attempt++) {
      try {
        const info = await this.client.getConsumer(this.options.consumer);
        return { maxInFlight: info.config?.max_in_flight ?? 0 };
      } catch (error) {
        const code = (error as { code?: number }).code;
        if (code === grpc.status.NOT_FOUND) return undefined;
        // Only a server that is away is worth waiting for; a refusal (a token, a permission) ends the bridge with the server's message.
        if (code !== grpc.status.UNAVAILABLE && code !== grpc.status.DEADLINE_EXCEEDED) throw error;
        if (this.ended) return 'ended';
        this.logger.warn(
          { consumer: this.options.consumer, error: (error as Error).message, attempt: attempt + 1 },
          'server unavailable; asking for the consumer again',
        );
        await new Promise((resolve) => setTimeout(resolve, backoffDelay(attempt, DEFAULT_BACKOFF)));
        if (this.ended) return 'ended';
      }
    }
  }
}
