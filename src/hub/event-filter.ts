import { invalidArgument } from '../model/errors';
import type { LoggedEvent } from '../model/logged-event';
import { eventTypeName, isLoggedEventType, isStatus, isStreamMessageType } from '../model/task';

export interface FilterSpec {
  eventTypes?: readonly number[];
  assignee?: string;
  statuses?: readonly number[];
  taskIds?: readonly string[];
}

/**
 * The part of a filter the log can be read by (LogReader.readMatching), so a subscriber far behind
 * reads only what may match rather than the whole log: an event is selected when its `field` equals
 * one of `values`; for the assignee also when the task's value before the change does (the filter
 * exit). Every event the filter matches is selected; the predicate still decides each one.
 */
export interface LogNarrowing {
  readonly field: 'taskId' | 'assignee';
  readonly values: readonly (string | number)[];
}

/** Whether a logged event matches a filter, and how the log may be narrowed for it (none: read it all). */
export interface EventPredicate {
  (event: LoggedEvent): boolean;
  readonly narrowing?: LogNarrowing;
}

/**
 * Compiles a subscriber's filter into one predicate; every part given must match. The assignee and
 * status parts match the task after the change or before it, so a sidecar watching "Alice" (or
 * TODO) also sees the change that takes a task away from her (or out of TODO): the filter exit
 * (docs/subscribing.md#filters). Only logged events pass through it; bookmarks and snapshots do not.
 */
export function compileFilter(spec: FilterSpec): EventPredicate {
  const types = spec.eventTypes?.length ? new Set(spec.eventTypes) : undefined;
  for (const type of spec.eventTypes ?? []) {
    if (isStreamMessageType(type)) {
      // Stream messages are asked for by their own fields and sent whatever event_types says.
      throw invalidArgument(
        `event_types contains TASK_EVENT_TYPE_${eventTypeName(type)}, which is a stream message, not a change; ask for bookmarks with bookmark_interval_ms and for a snapshot with include_snapshot (they are sent whatever event_types says)`,
      );
    }
    if (!isLoggedEventType(type)) {
      throw invalidArgument(
        `event_types contains ${type === 0 ? 'TASK_EVENT_TYPE_UNSPECIFIED' : type}, which is not an event type; use 1-7 (${[1, 2, 3, 4, 5, 6, 7].map(eventTypeName).join(', ')}) or leave it empty for all`,
      );
    }
  }
  const statuses = spec.statuses?.length ? new Set(spec.statuses) : undefined;
  for (const status of spec.statuses ?? []) {
    if (!isStatus(status)) throw invalidArgument(`statuses contains ${status}, which is not a task status; use 1-10`);
  }
  const taskIds = spec.taskIds?.length ? new Set(spec.taskIds) : undefined;
  const assignee = spec.assignee === undefined || spec.assignee === '' ? undefined : spec.assignee;

  if (!types && !statuses && !taskIds && assignee === undefined) return () => true;
  const predicate = (event: LoggedEvent) =>
    (types === undefined || types.has(event.eventType)) &&
    (taskIds === undefined || taskIds.has(event.taskId)) &&
    (assignee === undefined || event.assignee === assignee || event.previousAssignee === assignee) &&
    (statuses === undefined || statuses.has(event.status) || (event.previousStatus !== undefined && statuses.has(event.previousStatus)));
  const narrowing = narrowingOf(taskIds, assignee);
  return narrowing ? Object.assign(predicate, { narrowing }) : predicate;
}

/**
 * The one part of the filter the log is read by: task ids first (a task has few events), then the
 * assignee. Event types and statuses have no index (each would cost every write an entry): such a
 * filter reads the log's shared pages and filters them.
 */
function narrowingOf(taskIds: ReadonlySet<string> | undefined, assignee: string | undefined): LogNarrowing | undefined {
  if (taskIds) return { field: 'taskId', values: [...taskIds] };
  if (assignee !== undefined) return { field: 'assignee', values: [assignee] };
  return undefined;
}
