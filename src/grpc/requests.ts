// Wire requests -> domain inputs, in one place: every handler maps its request here and then
// calls the store or the hub. Validation that needs no state happens here too, so a bad request
// fails with INVALID_ARGUMENT before anything is looked up.
import type { AddTaskRequest__Output } from '../generated/rigger/v1/AddTaskRequest';
import type { ConsumerConfig__Output } from '../generated/rigger/v1/ConsumerConfig';
import type { ListConsumersRequest__Output } from '../generated/rigger/v1/ListConsumersRequest';
import type { ListTasksRequest__Output } from '../generated/rigger/v1/ListTasksRequest';
import type { SubscribeToTaskEventsRequest__Output } from '../generated/rigger/v1/SubscribeToTaskEventsRequest';
import type { TaskUpdate__Output } from '../generated/rigger/v1/TaskUpdate';
import type { UpdateTaskRequest__Output } from '../generated/rigger/v1/UpdateTaskRequest';
import type { ConsumerRequest } from '../hub/consumer-registry';
import type { FilterSpec } from '../hub/event-filter';
import { MAX_CONSUMER_NAME_LENGTH, truncateReason, validateConsumerName, validateSettings, type ConsumerFilter } from '../model/consumer';
import { invalidArgument } from '../model/errors';
import { LEGACY_LOG_ID, LOG_ID_PATTERN, type LogLineage } from '../model/log-lineage';
import type { NewTask, TaskPatch, TaskStatus } from '../model/task';
import {
  checkLength,
  checkList,
  MAX_BOOKMARK_INTERVAL_MS,
  MAX_ID_LENGTH,
  MAX_LIST_ENTRIES,
  MAX_NAME_LENGTH,
  MAX_PATH_LENGTH,
  MIN_BOOKMARK_INTERVAL_MS,
  validateStatus,
} from '../model/validate';
import type { SnapshotFilter } from '../store/snapshot';
import type { ListFilter } from '../store/task-queries';

const DEFAULT_LIST_LIMIT = 50;
const MAX_LIST_LIMIT = 1000;

export function requireTaskId(id: string | undefined): string {
  if (id === undefined || id.trim() === '') throw invalidArgument('task_id must not be empty');
  checkLength(id, 'task_id', MAX_ID_LENGTH);
  return id;
}

/** ParsePRD's prd_file_path, GenerateTasksFromPRD's prd_id (an id or a path). */
export function prdReferenceOf(value: string | undefined, field: string): string {
  checkLength(value, field, MAX_PATH_LENGTH);
  return value ?? '';
}

/** The `model` (and `test_type`) a PRD call names. */
export function nameOf(value: string | undefined, field: string): string | undefined {
  checkLength(value, field, MAX_NAME_LENGTH);
  return value;
}

export function listFilterOf(request: ListTasksRequest__Output): ListFilter {
  if (request.status !== undefined) validateStatus(request.status);
  checkLength(request.assignee, 'assignee', MAX_NAME_LENGTH);
  const limit = request.limit || DEFAULT_LIST_LIMIT;
  if (limit > MAX_LIST_LIMIT)
    throw invalidArgument(`limit ${limit} is over the maximum of ${MAX_LIST_LIMIT}; page with page_token (each response's next_page_token)`);
  return {
    limit,
    offset: request.offset ?? 0,
    includeArchived: request.include_archived === true,
    ...(request.page_token !== undefined && { pageToken: request.page_token }),
    ...(request.status !== undefined && { status: request.status as TaskStatus }),
    ...(request.assignee !== undefined && { assignee: request.assignee }),
  };
}

export function newTaskOf(request: AddTaskRequest__Output): NewTask {
  return {
    title: request.title ?? '',
    ...(request.assignee !== undefined && { assignee: request.assignee }),
    ...(request.due_date !== undefined && { due_date: request.due_date }),
    ...(request.source_prd_id !== undefined && { source_prd_id: request.source_prd_id }),
    ...(request.parent_task_id !== undefined && { parent_task_id: request.parent_task_id }),
  };
}

/** The patch an UpdateTaskRequest, or a TaskEventStream `update`, asks for. */
export function patchOf(request: UpdateTaskRequest__Output | TaskUpdate__Output): TaskPatch {
  const patch: TaskPatch = {};
  if (request.status !== undefined) {
    validateStatus(request.status);
    patch.status = request.status as TaskStatus;
  }
  if (request.assignee !== undefined) patch.assignee = request.assignee;
  if ('due_date' in request && request.due_date !== undefined) patch.due_date = request.due_date;
  return patch;
}

export function filterSpecOf(request: SubscribeToTaskEventsRequest__Output): FilterSpec {
  checkLength(request.assignee_filter, 'assignee_filter', MAX_NAME_LENGTH);
  checkList(request.task_ids, 'task_ids', MAX_ID_LENGTH);
  for (const [field, list] of [
    ['event_types', request.event_types],
    ['statuses', request.statuses],
  ] as const) {
    if ((list?.length ?? 0) > MAX_LIST_ENTRIES) throw invalidArgument(`${field} has ${list!.length} entries; the maximum is ${MAX_LIST_ENTRIES}`);
  }
  return {
    eventTypes: request.event_types,
    statuses: request.statuses,
    taskIds: request.task_ids,
    ...(request.assignee_filter !== undefined && { assignee: request.assignee_filter }),
  };
}

/** What a subscribe asks for besides its filter and resume point. */
export interface StreamRequest {
  /** Unset or 0 in the request: no bookmarks. */
  bookmarkIntervalMs: number | undefined;
  includeSnapshot: boolean;
}

export function streamRequestOf(request: SubscribeToTaskEventsRequest__Output): StreamRequest {
  const interval = request.bookmark_interval_ms;
  if (interval !== undefined && interval !== 0 && (interval < MIN_BOOKMARK_INTERVAL_MS || interval > MAX_BOOKMARK_INTERVAL_MS)) {
    throw invalidArgument(
      `bookmark_interval_ms ${interval} is ${interval < MIN_BOOKMARK_INTERVAL_MS ? `below the minimum of ${MIN_BOOKMARK_INTERVAL_MS}` : `above the maximum of ${MAX_BOOKMARK_INTERVAL_MS}`} ms; use ${MIN_BOOKMARK_INTERVAL_MS}-${MAX_BOOKMARK_INTERVAL_MS}, or 0 (or leave it unset) for no bookmarks`,
    );
  }
  const includeSnapshot = request.include_snapshot === true;
  if (includeSnapshot && request.since_sequence !== undefined) {
    throw invalidArgument(
      'include_snapshot cannot be combined with since_sequence: a snapshot stream starts at the snapshot; send since_sequence to resume, or include_snapshot to start over from the current state',
    );
  }
  return { bookmarkIntervalMs: interval === 0 ? undefined : interval, includeSnapshot };
}

/** The part of a filter a snapshot applies, to each task's state at the snapshot (event_types does not apply). */
/**
 * The sequence of the current log a stream resumes after (since_sequence of since_log_id), or
 * undefined for a live start. Throws conflict (FAILED_PRECONDITION) for a position the log cannot
 * continue (LogLineage.resolve).
 */
export function sinceSequenceOf(request: SubscribeToTaskEventsRequest__Output, lineage: LogLineage): number | undefined {
  const logId = request.since_log_id;
  if (logId !== undefined && logId !== LEGACY_LOG_ID && !LOG_ID_PATTERN.test(logId)) {
    throw invalidArgument(
      `since_log_id ${JSON.stringify(logId.slice(0, 40))} is not a log id (16 hex digits, as in the x-rigger-log-id header or a bookmark's log_id, or "legacy"); this server's log is ${lineage.logId}`,
    );
  }
  if (request.since_sequence === undefined) {
    if (logId !== undefined) throw invalidArgument('since_log_id names the log of since_sequence: send since_sequence with it, or neither for a live start');
    return undefined;
  }
  return lineage.resolve(logId, request.since_sequence);
}

export function snapshotFilterOf(spec: FilterSpec): SnapshotFilter {
  return {
    ...(spec.taskIds !== undefined && { taskIds: spec.taskIds }),
    ...(spec.statuses !== undefined && { statuses: spec.statuses }),
    ...(spec.assignee !== undefined && { assignee: spec.assignee }),
  };
}

/** A ConsumerConfig (a join or CreateConsumer): the name, the filter when given, the settings given. */
export function consumerRequestOf(config: ConsumerConfig__Output | null | undefined): ConsumerRequest {
  const name = validateConsumerName(config?.name);
  let filter: ConsumerFilter | undefined;
  if (config?.filter) {
    const given = config.filter;
    if (given.since_sequence !== undefined || given.bookmark_interval_ms !== undefined || given.include_snapshot !== undefined) {
      throw invalidArgument(
        'a consumer filter takes event_types, assignee_filter, statuses and task_ids only; give the start as start_sequence, and leave bookmarks and snapshots out',
      );
    }
    const spec = filterSpecOf(given);
    filter = {
      eventTypes: [...(spec.eventTypes ?? [])],
      statuses: [...(spec.statuses ?? [])],
      taskIds: [...(spec.taskIds ?? [])],
      ...(spec.assignee !== undefined && { assignee: spec.assignee }),
    };
  }
  const settings = validateSettings({
    ...(config?.ack_wait_ms !== undefined && { ackWaitMs: config.ack_wait_ms }),
    ...(config?.max_deliver !== undefined && { maxDeliver: config.max_deliver }),
    ...(config?.max_in_flight !== undefined && { maxInFlight: config.max_in_flight }),
    ...((config?.backoff_ms?.length ?? 0) > 0 && { backoffMs: [...config!.backoff_ms] }),
  });
  return { name, filter, settings, startSequence: config?.start_sequence };
}

/** A list a request names (sequences, delivery ids), as given: at most MAX_LIST_ENTRIES entries. */
export function boundedListOf<T extends number | string>(given: readonly T[] | undefined, field: string): readonly T[] {
  const list = given ?? [];
  if (list.length > MAX_LIST_ENTRIES) throw invalidArgument(`${field} has ${list.length} entries; the maximum is ${MAX_LIST_ENTRIES}`);
  return list;
}

/** A nak's reason, cut to what the server keeps rather than refused (a refusal would end the member's stream). */
export function nakReasonOf(reason: string | undefined): string | undefined {
  return reason === undefined ? undefined : truncateReason(reason);
}

/** ListConsumers pages: at most this many consumers each, the default too. */
export const MAX_CONSUMER_PAGE = 500;

const GARBLED_CONSUMER_TOKEN =
  'page_token is not a ListConsumers token this server issued (garbled or cut short); send the next_page_token of the previous page unchanged, or leave page_token out to start from the first page';

/** Where a ListConsumers page starts (after the consumer named `after`; undefined = the first) and how many it holds. */
export function consumerPageOf(request: ListConsumersRequest__Output): { after: string | undefined; limit: number } {
  const size = request.page_size ?? 0;
  if (size > MAX_CONSUMER_PAGE)
    throw invalidArgument(`page_size ${size} is over the maximum of ${MAX_CONSUMER_PAGE}; page with page_token (each response's next_page_token)`);
  const token = request.page_token ?? '';
  if (token === '') return { after: undefined, limit: size || MAX_CONSUMER_PAGE };
  // The token is the last name sent, base64url: names are ordered, so the next page is the names after it.
  let after: string;
  try {
    if (token.length > 4 * MAX_CONSUMER_NAME_LENGTH || !/^[A-Za-z0-9_-]+$/.test(token)) throw new Error();
    after = validateConsumerName(Buffer.from(token, 'base64url').toString('utf8'));
  } catch {
    throw invalidArgument(GARBLED_CONSUMER_TOKEN);
  }
  return { after, limit: size || MAX_CONSUMER_PAGE };
}

/** The next_page_token after a page ending with the consumer named `last`. */
export function consumerPageToken(last: string): string {
  return Buffer.from(last, 'utf8').toString('base64url');
}
