import * as grpc from '@grpc/grpc-js';
import type { SubscribeToTaskEventsRequest__Output } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent as WireTaskEvent } from '../generated/rigger/v1/TaskEvent';
import type { TaskEventStreamRequest__Output } from '../generated/rigger/v1/TaskEventStreamRequest';
import type { FilterSpec } from '../hub/event-filter';
import { compileFilter } from '../hub/event-filter';
import type { OpenStream, StreamKind } from '../hub/stream-registry';
import type { EventSink, Subscription } from '../hub/subscription';
import { invalidArgument, RiggerError } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { TaskEventType } from '../model/task';
import { taskEventEncoder } from '../protocol/event-codec';
import { LOG_ID_HEADER, POSITION_HEADER } from '../protocol/metadata';
import { actorOf, clientNameOf, type ServiceContext } from './context';
import { toServiceError } from './errors';
import { filterSpecOf, patchOf, requireTaskId, sinceSequenceOf, snapshotFilterOf, streamRequestOf, type StreamRequest } from './requests';
import { StreamInbox } from './stream-inbox';
import type { EventStreamWriter } from './stream-writer';

type EventStreamCall =
  | grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, WireTaskEvent>
  | grpc.ServerDuplexStream<TaskEventStreamRequest__Output, WireTaskEvent>;

export function eventHandlers(context: ServiceContext) {
  const { hub, logger } = context;
  const logId = context.store.lineage.logId;

  /** A gRPC stream as a hub sink: writes pre-encoded bytes and honors a full writer. */
  const sinkFor = (call: EventStreamCall): EventSink => {
    const writer = context.writerFor(call.metadata);
    if (!writer) throw new Error(`no EventStreamWriter for ${call.getPath()}: the writers' interceptor must be installed`);
    return new CallSink(writer, call, logger, logId);
  };

  /** Lists the stream in the hub's registry (GetHubStatus); throws invalid_argument for a bad client name. */
  const register = (call: EventStreamCall, kind: StreamKind): OpenStream => {
    const writer = context.writerFor(call.metadata);
    return hub.streams.open({ kind, peer: call.getPeer(), clientName: clientNameOf(call.metadata), queuedBytes: () => writer?.queuedBytes ?? 0 });
  };

  const endWithError = (call: EventStreamCall, error: unknown): void => {
    call.emit('error', toServiceError(error, logger));
  };

  /**
   * Registers a subscription for `call`, sends the response headers (so the client knows it is in
   * place, and after which sequence its events start), then starts delivering. Throws for a bad
   * filter or resume point, before anything was sent. A snapshot's first page is read here, so its
   * sequence (where the events start) is known for the headers.
   */
  const open = (call: EventStreamCall, spec: FilterSpec, sinceSequence: number | undefined, asked: StreamRequest, stream: OpenStream): Subscription => {
    compileFilter(spec); // a bad filter fails before a snapshot is read
    const snapshot = asked.includeSnapshot ? context.store.snapshots.open(snapshotFilterOf(spec)) : undefined;
    let subscription: Subscription;
    try {
      subscription = hub.subscribe(spec, sinceSequence, sinkFor(call), {
        ...(snapshot && { snapshot }),
        ...(asked.bookmarkIntervalMs !== undefined && { bookmarkIntervalMs: asked.bookmarkIntervalMs }),
      });
    } catch (error) {
      snapshot?.close();
      throw error;
    }
    stream.subscription = subscription;
    stream.filter = spec;
    stream.bookmarkIntervalMs = asked.bookmarkIntervalMs;
    call.sendMetadata(positionHeader(snapshot?.sequence ?? sinceSequence ?? subscription.position, logId));
    logger.debug(
      {
        peer: call.getPeer(),
        since_sequence: sinceSequence,
        snapshot_sequence: snapshot?.sequence,
        bookmark_interval_ms: asked.bookmarkIntervalMs,
        subscribers: hub.subscriberCount,
      },
      'subscription started',
    );
    subscription.start();
    return subscription;
  };

  /** Unsubscribes when the call ends for any reason, so no subscription outlives its stream. */
  const releaseOnEnd = (call: EventStreamCall, current: () => Subscription | undefined, stream: () => OpenStream | undefined): void => {
    let released = false;
    const release = () => {
      const listed = stream();
      if (listed) hub.streams.close(listed);
      const subscription = current();
      if (released || !subscription) return;
      released = true;
      hub.unsubscribe(subscription);
      logger.debug({ peer: call.getPeer(), subscribers: hub.subscriberCount }, 'subscription ended');
    };
    // `on`, not `once`: release runs once anyway, and each `once` would hold a wrapper per stream for as long as it is open.
    call.on('cancelled', release);
    call.on('close', release);
    call.on('finish', release);
    call.on('error', release);
  };

  return {
    SubscribeToTaskEvents(call: grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, WireTaskEvent>): void {
      let subscription: Subscription | undefined;
      let stream: OpenStream | undefined;
      releaseOnEnd(call, () => subscription, () => stream);
      try {
        stream = register(call, 'subscribe');
        subscription = open(call, filterSpecOf(call.request), sinceSequenceOf(call.request, context.store.lineage), streamRequestOf(call.request), stream);
      } catch (error) {
        endWithError(call, error);
      }
    },

    TaskEventStream(call: grpc.ServerDuplexStream<TaskEventStreamRequest__Output, WireTaskEvent>): void {
      let subscription: Subscription | undefined;
      let stream: OpenStream | undefined;
      let ended = false;
      releaseOnEnd(call, () => subscription, () => stream);
      const fail = (error: unknown) => {
        if (ended) return;
        ended = true;
        inbox.close();
        stopWaitingForClose();
        endWithError(call, error);
      };
      // Updates share group commits, up to maxWritesInFlight read ahead; the rest waits in the client (stream-inbox.ts).
      const inbox = new StreamInbox(call, context.maxWritesInFlight, fail);
      // Until its first subscribe the stream holds no subscription; shutdown must still end it.
      const stopWaitingForClose = hub.onClose(fail);
      call.once('cancelled', () => {
        ended = true;
        inbox.close();
        stopWaitingForClose();
      });
      try {
        stream = register(call, 'task_event_stream');
      } catch (error) {
        fail(error);
        return;
      }
      const listed = stream;
      // Subscribe and bookmark take effect once every update sent before them has committed.
      const handle = (message: TaskEventStreamRequest__Output): void => {
        if (message.subscribe) {
          const spec = filterSpecOf(message.subscribe);
          const since = sinceSequenceOf(message.subscribe, context.store.lineage);
          const asked = streamRequestOf(message.subscribe);
          if (!subscription) {
            subscription = open(call, spec, since, asked, listed);
            stopWaitingForClose();
          } else {
            if (asked.includeSnapshot) {
              throw invalidArgument('include_snapshot is accepted on the first subscribe of a TaskEventStream only; open a new stream for a new snapshot');
            }
            const predicate = compileFilter(spec);
            if (since !== undefined) hub.checkResumable(since);
            subscription.setFilter(predicate);
            subscription.setBookmarkInterval(asked.bookmarkIntervalMs);
            listed.filter = spec;
            listed.bookmarkIntervalMs = asked.bookmarkIntervalMs;
            if (since !== undefined) subscription.restartFrom(since);
          }
        } else if (message.bookmark) {
          // Answered after everything already sent or owed to the stream, at its position now.
          if (!subscription) throw new RiggerError('conflict', 'bookmark before the first subscribe: there is no stream position yet; send subscribe first');
          subscription.requestBookmark();
        }
      };
      call.on('data', (message: TaskEventStreamRequest__Output) => {
        if (ended) return;
        const update = message.update;
        if (!update) return inbox.inOrder(() => handle(message));
        inbox.update((guard) => {
          const id = requireTaskId(update.task_id);
          const patch = patchOf(update);
          return context.store.tasks.writeGrouped(actorOf(call), (m) => guard(() => m.updateTask(id, patch)));
        });
      });
      call.on('end', () => {
        // The client has nothing more to send; the stream stays open for events until it cancels.
      });
    },
  };
}

/**
 * The hub's sink for one stream: a class, so an idle stream holds one small object, not an object
 * and a closure per method.
 */
class CallSink implements EventSink {
  constructor(
    private readonly writer: EventStreamWriter,
    private readonly call: EventStreamCall,
    private readonly logger: ServiceContext['logger'],
    private readonly logId: string,
  ) {}

  write(event: LoggedEvent): boolean {
    return this.writer.write(event.encoded);
  }

  /** Encoded here, per stream that asked: a bookmark is never in the log, the ring or any count of events. */
  writeBookmark(sequence: number): boolean {
    return this.writer.write(taskEventEncoder.encode({ sequence, timestamp: new Date().toISOString(), event_type: TaskEventType.BOOKMARK, log_id: this.logId }));
  }

  onDrain(callback: () => void): void {
    this.writer.onDrain(callback);
  }

  fail(error: RiggerError): void {
    this.call.emit('error', toServiceError(error, this.logger));
  }
}

function positionHeader(sequence: number, logId: string): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(POSITION_HEADER, String(sequence));
  metadata.set(LOG_ID_HEADER, logId);
  return metadata;
}
