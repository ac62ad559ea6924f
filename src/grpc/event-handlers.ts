import * as grpc from '@grpc/grpc-js';
import type { SubscribeToTaskEventsRequest__Output } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent as WireTaskEvent } from '../generated/rigger/v1/TaskEvent';
import type { TaskEventStreamRequest__Output } from '../generated/rigger/v1/TaskEventStreamRequest';
import type { FilterSpec } from '../hub/event-filter';
import { compileFilter } from '../hub/event-filter';
import type { EventSink, Subscription } from '../hub/subscription';
import type { TaskStatus } from '../model/task';
import { validateStatus } from '../model/validate';
import { actorOf, type ServiceContext } from './context';
import { toServiceError } from './errors';
import { requireTaskId } from './task-handlers';

type EventStreamCall =
  | grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, WireTaskEvent>
  | grpc.ServerDuplexStream<TaskEventStreamRequest__Output, WireTaskEvent>;

export function filterSpecOf(request: SubscribeToTaskEventsRequest__Output): FilterSpec {
  return {
    eventTypes: request.event_types,
    statuses: request.statuses,
    taskIds: request.task_ids,
    ...(request.assignee_filter !== undefined && { assignee: request.assignee_filter }),
  };
}

export function eventHandlers(context: ServiceContext) {
  const { hub, codec, logger } = context;

  /** A gRPC stream as a hub sink: writes pre-encoded bytes and honors write() === false. */
  const sinkFor = (call: EventStreamCall): EventSink => ({
    write: (event) => call.write(codec.encode(event) as unknown as WireTaskEvent),
    onDrain: (callback) => call.once('drain', callback),
    fail: (error) => call.emit('error', toServiceError(error, logger)),
  });

  const endWithError = (call: EventStreamCall, error: unknown): void => {
    call.emit('error', toServiceError(error, logger));
  };

  /** Unsubscribes when the call ends for any reason, so no subscription outlives its stream. */
  const releaseOnEnd = (call: EventStreamCall, current: () => Subscription | undefined): void => {
    const release = () => {
      const subscription = current();
      if (subscription) hub.unsubscribe(subscription);
    };
    call.once('cancelled', release);
    call.once('close', release);
    call.once('finish', release);
    call.once('error', release);
  };

  return {
    SubscribeToTaskEvents(call: grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, WireTaskEvent>): void {
      let subscription: Subscription | undefined;
      const startsAfter = call.request.since_sequence ?? hub.lastSequence;
      try {
        subscription = hub.subscribe(filterSpecOf(call.request), call.request.since_sequence, sinkFor(call));
      } catch (error) {
        endWithError(call, error);
        return;
      }
      releaseOnEnd(call, () => subscription);
      // Headers now tell the client its subscription is in place, before any event arrives, and
      // the sequence it starts after (so a client that started live can resume without a gap).
      call.sendMetadata(positionHeader(startsAfter));
    },

    TaskEventStream(call: grpc.ServerDuplexStream<TaskEventStreamRequest__Output, WireTaskEvent>): void {
      let subscription: Subscription | undefined;
      let ended = false;
      releaseOnEnd(call, () => subscription);
      const fail = (error: unknown) => {
        if (ended) return;
        ended = true;
        if (subscription) hub.unsubscribe(subscription);
        endWithError(call, error);
      };
      call.on('data', (message: TaskEventStreamRequest__Output) => {
        if (ended) return;
        try {
          if (message.subscribe) {
            const spec = filterSpecOf(message.subscribe);
            const since = message.subscribe.since_sequence;
            if (!subscription) {
              subscription = hub.subscribe(spec, since, sinkFor(call));
              call.sendMetadata(new grpc.Metadata());
            } else {
              subscription.setFilter(compileFilter(spec));
              if (since !== undefined) {
                hub.checkResumable(since);
                subscription.restartFrom(since);
              }
            }
          } else if (message.update) {
            const update = message.update;
            const patch: { status?: TaskStatus; assignee?: string } = {};
            if (update.status !== undefined) {
              validateStatus(update.status);
              patch.status = update.status as TaskStatus;
            }
            if (update.assignee !== undefined) patch.assignee = update.assignee;
            context.store.tasks.updateTask(requireTaskId(update.task_id), patch, actorOf(call));
          }
        } catch (error) {
          fail(error);
        }
      });
      call.on('end', () => {
        // The client has nothing more to send; the stream stays open for events until it cancels.
      });
    },
  };
}

/** Response header of an event stream: the sequence after which its events start. */
export const POSITION_HEADER = 'x-rigger-position';

function positionHeader(sequence: number): grpc.Metadata {
  const metadata = new grpc.Metadata();
  metadata.set(POSITION_HEADER, String(sequence));
  return metadata;
}
