// GetHubStatus: the server, its log and files, every open stream (from the hub's StreamRegistry)
// and every durable consumer, as they stand now. Translation only: the streams register
// themselves (their sessions, src/hub/*-session.ts); nothing here holds state.
import type { ConsumerInfo } from '../generated/rigger/v1/ConsumerInfo';
import type { GetHubStatusRequest__Output } from '../generated/rigger/v1/GetHubStatusRequest';
import type { HubStatus } from '../generated/rigger/v1/HubStatus';
import type { StreamStatus } from '../generated/rigger/v1/StreamStatus';
import type { SubscribeToTaskEventsRequest } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskEventType } from '../generated/rigger/v1/TaskEventType';
import type { TaskStatus } from '../generated/rigger/v1/TaskStatus';
import type { ConsumerStatus } from '../hub/consumer-registry';
import type { FilterSpec } from '../hub/event-filter';
import type { OpenStream } from '../hub/stream-registry';
import { invalidArgument } from '../model/errors';
import { consumerInfoOf } from './consumer-info';
import { clientNameOf, unary, type ServiceContext } from './context';
import { logInfoOf } from './log-handlers';
import { fileSize } from '../store/file-size';
import { packageVersion } from '../protocol/package-version';

/** Streams and consumers in one answer unless `limit` says otherwise; and the most it may say. */
export const DEFAULT_STATUS_LIMIT = 500;
export const MAX_STATUS_LIMIT = 5000;

export function statusHandlers(context: ServiceContext) {
  const startedAt = new Date();
  const version = packageVersion();
  const { store, hub, consumers } = context;

  return {
    GetHubStatus: unary<GetHubStatusRequest__Output, HubStatus>(context, (request, call) => {
      clientNameOf(call.metadata); // a bad name is refused here as on the streams
      const limit = limitOf(request.limit);
      const head = hub.lastSequence;
      const page = consumers.page(undefined, limit);
      // A stream's consumer is read once per consumer, however many members it has.
      const consumerStatus = new Map<string, ConsumerStatus | undefined>(page.statuses.map((s) => [s.record.name, s]));
      const statusOfConsumer = (name: string): ConsumerStatus | undefined => {
        if (!consumerStatus.has(name)) {
          let status: ConsumerStatus | undefined;
          try {
            status = consumers.status(name);
          } catch {
            status = undefined; // deleted while its member's stream ends
          }
          consumerStatus.set(name, status);
        }
        return consumerStatus.get(name);
      };
      const streams = hub.streams.list(limit).map((stream) => streamStatusOf(stream, head, statusOfConsumer));
      const file = store.db.name;
      return {
        server: { version, started_at: startedAt.toISOString(), uptime_ms: Date.now() - startedAt.getTime(), pid: process.pid },
        log: logInfoOf(store),
        head_sequence: head,
        database_bytes: fileSize(file),
        wal_bytes: fileSize(`${file}-wal`),
        streams,
        stream_count: hub.streams.size,
        consumers: page.statuses.map(consumerInfoOf) as ConsumerInfo[],
        consumer_count: page.total,
      };
    }),
  };
}

function limitOf(limit: number | undefined): number {
  if (limit === undefined) return DEFAULT_STATUS_LIMIT;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_STATUS_LIMIT) {
    throw invalidArgument(`limit must be 1 to ${MAX_STATUS_LIMIT} (streams and consumers listed; the counts are always whole), got ${limit}`);
  }
  return limit;
}

function streamStatusOf(stream: OpenStream, head: number, consumerStatus: (name: string) => ConsumerStatus | undefined): StreamStatus {
  const { opening } = stream;
  const consumer = stream.consumer === undefined ? undefined : consumerStatus(stream.consumer);
  const position = consumer ? consumer.ackedSequence : stream.subscription?.position;
  const positionHead = consumer ? consumer.headSequence : head;
  return {
    stream_id: stream.id,
    kind: opening.kind,
    peer: opening.peer,
    client_name: opening.clientName ?? '',
    opened_at: stream.openedAt.toISOString(),
    filter: filterOf(consumer ? consumer.record.filter : stream.filter),
    ...(position !== undefined && { position }),
    lag: position === undefined ? 0 : Math.max(0, positionHead - position),
    bookmark_interval_ms: stream.bookmarkIntervalMs ?? 0,
    bytes_queued: opening.queuedBytes(),
    consumer: stream.consumer ?? '',
    live: stream.subscription?.live ?? false,
  };
}

function filterOf(spec: FilterSpec): SubscribeToTaskEventsRequest {
  return {
    event_types: [...(spec.eventTypes ?? [])] as TaskEventType[],
    statuses: [...(spec.statuses ?? [])] as TaskStatus[],
    task_ids: [...(spec.taskIds ?? [])],
    ...(spec.assignee !== undefined && { assignee_filter: spec.assignee }),
  };
}
