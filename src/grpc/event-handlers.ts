// SubscribeToTaskEvents and TaskEventStream. Translation only: each message becomes a call on the
// stream's session (src/hub/subscribe-session.ts, event-stream-session.ts), which holds the rules.
import type * as grpc from '@grpc/grpc-js';
import type { SubscribeToTaskEventsRequest__Output } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEvent as WireTaskEvent } from '../generated/rigger/v1/TaskEvent';
import type { TaskEventStreamRequest__Output } from '../generated/rigger/v1/TaskEventStreamRequest';
import { EventStreamSession } from '../hub/event-stream-session';
import { SubscribeSession, type EventSessionOptions, type SubscribeRequest } from '../hub/subscribe-session';
import type { LogLineage } from '../model/log-lineage';
import { actorOf, clientNameOf, type ServiceContext } from './context';
import { filterSpecOf, patchOf, requireTaskId, sinceSequenceOf, snapshotFilterOf, streamRequestOf } from './requests';
import { EventCallPort, releaseOnEnd, writerOf } from './stream-ports';

export function eventHandlers(context: ServiceContext) {
  const { hub, logger, store } = context;
  const logId = store.lineage.logId;
  const options: EventSessionOptions = { openSnapshot: (spec) => store.snapshots.open(snapshotFilterOf(spec)), logger };

  return {
    SubscribeToTaskEvents(call: grpc.ServerWritableStream<SubscribeToTaskEventsRequest__Output, WireTaskEvent>): void {
      const session = new SubscribeSession(hub, new EventCallPort(writerOf(context, call), call, logger, logId), options);
      releaseOnEnd(call, session);
      session.start(
        () => clientNameOf(call.metadata),
        () => subscribeRequestOf(call.request, store.lineage),
      );
    },

    TaskEventStream(call: grpc.ServerDuplexStream<TaskEventStreamRequest__Output, WireTaskEvent>): void {
      const port = new EventCallPort(writerOf(context, call), call, logger, logId);
      const session = new EventStreamSession(hub, port, call, { ...options, maxWritesInFlight: context.maxWritesInFlight });
      releaseOnEnd(call, session);
      session.start(() => clientNameOf(call.metadata));
      // The client half-closing changes nothing: the stream stays open for events until it cancels.
      call.on('data', (message: TaskEventStreamRequest__Output) => {
        const { update, subscribe } = message;
        if (update) {
          session.update((guard) => {
            const id = requireTaskId(update.task_id);
            const patch = patchOf(update);
            return store.tasks.writeGrouped(actorOf(call), (m) => guard(() => m.updateTask(id, patch)));
          });
        } else if (subscribe) session.subscribe(() => subscribeRequestOf(subscribe, store.lineage));
        else if (message.bookmark) session.bookmark();
        else session.skip();
      });
    },
  };
}

/** A subscribe as the session takes it; checked in the order the fields were always checked. */
function subscribeRequestOf(request: SubscribeToTaskEventsRequest__Output, lineage: LogLineage): SubscribeRequest {
  const spec = filterSpecOf(request);
  const sinceSequence = sinceSequenceOf(request, lineage);
  const { includeSnapshot, bookmarkIntervalMs } = streamRequestOf(request);
  return { spec, sinceSequence, includeSnapshot, bookmarkIntervalMs };
}
