import { TaskEventType, type Task, type TaskEvent, type TaskStatus } from './task';
import { MAX_NAME_LENGTH, MAX_TITLE_LENGTH } from './validate';

/** A stream message that carries no task (BOOKMARK, SNAPSHOT_COMPLETE): a position and when it was sent. */
export interface StreamMarker {
  sequence: number;
  timestamp: string;
  event_type: TaskEventType;
  /** The log identity `sequence` is a position of. */
  log_id?: string;
}

/** Encodes a whole event (sequence included), or a marker, to the bytes subscribers receive. */
export interface EventEncoder {
  /** Readies encode() (loads the schema); the store calls it before a write transaction, which is then not held open by it. */
  prepare(): void;
  encode(event: TaskEvent | StreamMarker): Buffer;
}

/** One task of a snapshot: the task as it is at `sequence` (no previous task, no actor: nothing changed). */
export function snapshotEventOf(task: Task, sequence: number, timestamp: string): TaskEvent {
  return { sequence, event_id: '', timestamp, event_type: TaskEventType.SNAPSHOT, task, metadata: {}, changed_fields: [] };
}

/**
 * A committed event as the hub carries it: the fields subscriber filters look at, and the event
 * encoded once, when it was committed. Delivering it, from the live path or the log, is a write of
 * those bytes; nothing is decoded or encoded again.
 */
export interface LoggedEvent {
  readonly sequence: number;
  readonly eventType: TaskEventType;
  readonly taskId: string;
  /** The task's assignee after the change, and before it (events about an existing task). */
  readonly assignee: string | undefined;
  readonly previousAssignee: string | undefined;
  readonly status: TaskStatus;
  readonly previousStatus: TaskStatus | undefined;
  readonly encoded: Buffer;
}

export function loggedEventOf(event: TaskEvent, encoded: Buffer): LoggedEvent {
  return {
    sequence: event.sequence,
    eventType: event.event_type,
    taskId: event.task.id,
    assignee: event.task.assignee,
    previousAssignee: event.previous_task?.assignee,
    status: event.task.status,
    previousStatus: event.previous_task?.status,
    encoded,
  };
}

/**
 * What a subscriber gets in place of a stored event too large for a client with default limits
 * (written before writes were bounded): the same sequence, id, type and time, the task's identity
 * and state with long fields cut, no previous task, and `metadata.oversized_bytes` saying so.
 * Never a gap, never a message the client must refuse.
 */
export function reducedEvent(event: TaskEvent, bytes: number): TaskEvent {
  const cut = (text: string, max: number) => ([...text].length > max ? [...text].slice(0, max).join('') : text);
  const { id, title, status, created_at, updated_at, version, assignee, due_date } = event.task;
  const task: Task = { id, title: cut(title, MAX_TITLE_LENGTH), status, subtask_ids: [], created_at, updated_at, context_files: [], dependencies: [], version };
  if (assignee !== undefined) task.assignee = cut(assignee, MAX_NAME_LENGTH);
  if (due_date !== undefined) task.due_date = cut(due_date, 10);
  const reduced: TaskEvent = {
    sequence: event.sequence,
    event_id: event.event_id,
    timestamp: event.timestamp,
    event_type: event.event_type,
    task,
    metadata: { oversized_bytes: String(bytes), ...(event.metadata.mutation_id !== undefined && { mutation_id: event.metadata.mutation_id }) },
    changed_fields: event.changed_fields.slice(0, 20),
  };
  if (event.actor !== undefined) reduced.actor = cut(event.actor, MAX_NAME_LENGTH);
  return reduced;
}
