// The domain model. Field names follow the wire contract (snake_case) so that a domain object is
// also a valid protobuf message and crosses the gRPC boundary without a copy.

export const TaskStatus = {
  UNSPECIFIED: 0,
  TODO: 1,
  IN_PROGRESS: 2,
  PENDING_ENHANCEMENT: 3,
  PENDING_COMPREHENSION_TEST: 4,
  PENDING_FOLLOW_ON: 5,
  PENDING_DECOMPOSITION: 6,
  DECOMPOSED: 7,
  ORCHESTRATION_COMPLETE: 8,
  COMPLETED: 9,
  ARCHIVED: 10,
} as const;
export type TaskStatus = (typeof TaskStatus)[keyof typeof TaskStatus];

export const TaskEventType = {
  UNSPECIFIED: 0,
  CREATED: 1,
  UPDATED: 2,
  DELETED: 3,
  STATUS_CHANGED: 4,
  ASSIGNED: 5,
  DECOMPOSED: 6,
  ORCHESTRATED: 7,
  // Stream messages, never written to the log: sent only to streams that ask for them.
  /** "Every event up to `sequence` matching this stream's filter has been delivered"; carries no task. */
  BOOKMARK: 8,
  /** One task as it is at `sequence`, the first part of a stream opened with include_snapshot. */
  SNAPSHOT: 9,
  /** The snapshot is complete as of `sequence`; the events after it follow. Carries no task. */
  SNAPSHOT_COMPLETE: 10,
} as const;
export type TaskEventType = (typeof TaskEventType)[keyof typeof TaskEventType];

export interface Task {
  id: string;
  title: string;
  assignee?: string;
  due_date?: string;
  status: TaskStatus;
  source_transcript_id?: string;
  source_prd_id?: string;
  parent_task_id?: string;
  subtask_ids: string[];
  created_at: string;
  updated_at: string;
  complexity?: number;
  reasoning?: string;
  context_files: string[];
  dependencies: string[];
  version: number;
}

/**
 * A message of an event stream. `task` is set on every logged event and on SNAPSHOT; BOOKMARK and
 * SNAPSHOT_COMPLETE carry only `sequence` and `timestamp` (decoded, their `task` is absent).
 */
export interface TaskEvent {
  sequence: number;
  event_id: string;
  timestamp: string;
  event_type: TaskEventType;
  task: Task;
  previous_task?: Task;
  actor?: string;
  metadata: Record<string, string>;
  changed_fields: string[];
  /**
   * The log identity `sequence` is of. On the wire only on BOOKMARK and SNAPSHOT_COMPLETE; the
   * typed client sets it on every event, from the stream's x-rigger-log-id header.
   */
  log_id?: string;
}

/** Fields a caller may change on an existing task; absent means "leave as it is". */
export interface TaskPatch {
  title?: string;
  status?: TaskStatus;
  assignee?: string;
  due_date?: string;
  source_prd_id?: string;
  parent_task_id?: string;
  subtask_ids?: string[];
  complexity?: number;
  reasoning?: string;
  context_files?: string[];
  dependencies?: string[];
}

export interface NewTask {
  title: string;
  assignee?: string;
  due_date?: string;
  status?: TaskStatus;
  source_transcript_id?: string;
  source_prd_id?: string;
  parent_task_id?: string;
  complexity?: number;
  reasoning?: string;
  context_files?: string[];
  dependencies?: string[];
}

const statusNames = Object.keys(TaskStatus) as (keyof typeof TaskStatus)[];
const eventTypeNames = Object.keys(TaskEventType) as (keyof typeof TaskEventType)[];

export function statusName(status: number): string {
  return statusNames.find((n) => TaskStatus[n] === status) ?? `UNKNOWN(${status})`;
}

export function eventTypeName(type: number): string {
  return eventTypeNames.find((n) => TaskEventType[n] === type) ?? `UNKNOWN(${type})`;
}

/** Parses `in_progress`, `IN_PROGRESS`, `TASK_STATUS_IN_PROGRESS` or `2`; undefined if none of them. */
export function parseStatus(text: string): TaskStatus | undefined {
  return parseEnum(text, TaskStatus, 'TASK_STATUS_') as TaskStatus | undefined;
}

export function parseEventType(text: string): TaskEventType | undefined {
  return parseEnum(text, TaskEventType, 'TASK_EVENT_TYPE_') as TaskEventType | undefined;
}

function parseEnum(text: string, values: Record<string, number>, prefix: string): number | undefined {
  const trimmed = text.trim();
  if (/^\d+$/.test(trimmed)) {
    const n = Number(trimmed);
    return n !== 0 && Object.values(values).includes(n) ? n : undefined;
  }
  let name = trimmed.toUpperCase().replace(/-/g, '_');
  if (name.startsWith(prefix)) name = name.slice(prefix.length);
  const value = values[name];
  return value === undefined || value === 0 ? undefined : value;
}

export function isStatus(value: number): value is TaskStatus {
  return Number.isInteger(value) && value > 0 && value <= TaskStatus.ARCHIVED;
}

/** Any known event type, stream messages (BOOKMARK, SNAPSHOT, SNAPSHOT_COMPLETE) included. */
export function isEventType(value: number): value is TaskEventType {
  return Number.isInteger(value) && value > 0 && value <= TaskEventType.SNAPSHOT_COMPLETE;
}

/** A type the event log holds (CREATED ... ORCHESTRATED): what a subscriber's event_types filter can name. */
export function isLoggedEventType(value: number): value is TaskEventType {
  return Number.isInteger(value) && value > 0 && value <= TaskEventType.ORCHESTRATED;
}

/** BOOKMARK, SNAPSHOT or SNAPSHOT_COMPLETE: a message about the stream, not a change of a task. */
export function isStreamMessageType(value: number): boolean {
  return value === TaskEventType.BOOKMARK || value === TaskEventType.SNAPSHOT || value === TaskEventType.SNAPSHOT_COMPLETE;
}
