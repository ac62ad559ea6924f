// Row <-> domain mapping for the tasks and events tables.
import type { LoggedEvent } from '../model/logged-event';
import type { SqliteDatabase } from './database';
import type { Task, TaskEvent, TaskEventType, TaskStatus } from '../model/task';

export interface TaskRow {
  id: string;
  title: string;
  assignee: string | null;
  due_date: string | null;
  status: number;
  source_transcript_id: string | null;
  source_prd_id: string | null;
  parent_task_id: string | null;
  subtask_ids: string;
  created_at: string;
  updated_at: string;
  complexity: number | null;
  reasoning: string | null;
  context_files: string;
  dependencies: string;
  version: number;
}

export interface EventRow {
  sequence: number;
  event_id: string;
  event_type: number;
  timestamp: string;
  actor: string | null;
  task: string;
  previous_task: string | null;
  changed_fields: string;
  metadata: string;
}

/**
 * The columns catch-up reads, as the array a raw statement returns (no per-row object to build):
 * the filter fields and the encoded event (NULL in rows older than schema version 3).
 */
export type LoggedEventRow = [
  sequence: number,
  event_type: number,
  task_id: string,
  assignee: string | null,
  previous_assignee: string | null,
  status: number,
  previous_status: number | null,
  encoded: Buffer | null,
];

export const LOGGED_EVENT_COLUMNS = 'sequence, event_type, task_id, assignee, previous_assignee, status, previous_status, encoded';
export const EVENT_COLUMNS = 'sequence, event_id, event_type, timestamp, actor, task, previous_task, changed_fields, metadata';

/** The newest sequence ever assigned; AUTOINCREMENT keeps it in sqlite_sequence, so compaction does not lower it. */
export const LATEST_SEQUENCE_SQL = `SELECT seq FROM sqlite_sequence WHERE name = 'events'`;

/** The newest sequence ever assigned in `db` (0 before the first event), for a one-off read; EventLog prepares its own. */
export function latestSequence(db: SqliteDatabase): number {
  return (db.prepare(LATEST_SEQUENCE_SQL).pluck().get() as number | undefined) ?? 0;
}

export const TASK_COLUMNS =
  'id, title, assignee, due_date, status, source_transcript_id, source_prd_id, parent_task_id, subtask_ids, ' +
  'created_at, updated_at, complexity, reasoning, context_files, dependencies, version';

export function taskFromRow(row: TaskRow): Task {
  const task: Task = {
    id: row.id,
    title: row.title,
    status: row.status as TaskStatus,
    subtask_ids: JSON.parse(row.subtask_ids) as string[],
    created_at: row.created_at,
    updated_at: row.updated_at,
    context_files: JSON.parse(row.context_files) as string[],
    dependencies: JSON.parse(row.dependencies) as string[],
    version: row.version,
  };
  if (row.assignee !== null) task.assignee = row.assignee;
  if (row.due_date !== null) task.due_date = row.due_date;
  if (row.source_transcript_id !== null) task.source_transcript_id = row.source_transcript_id;
  if (row.source_prd_id !== null) task.source_prd_id = row.source_prd_id;
  if (row.parent_task_id !== null) task.parent_task_id = row.parent_task_id;
  if (row.complexity !== null) task.complexity = row.complexity;
  if (row.reasoning !== null) task.reasoning = row.reasoning;
  return task;
}

export function taskToRow(task: Task): TaskRow {
  return {
    id: task.id,
    title: task.title,
    assignee: task.assignee ?? null,
    due_date: task.due_date ?? null,
    status: task.status,
    source_transcript_id: task.source_transcript_id ?? null,
    source_prd_id: task.source_prd_id ?? null,
    parent_task_id: task.parent_task_id ?? null,
    subtask_ids: JSON.stringify(task.subtask_ids),
    created_at: task.created_at,
    updated_at: task.updated_at,
    complexity: task.complexity ?? null,
    reasoning: task.reasoning ?? null,
    context_files: JSON.stringify(task.context_files),
    dependencies: JSON.stringify(task.dependencies),
    version: task.version,
  };
}

export function eventFromRow(row: EventRow): TaskEvent {
  const event: TaskEvent = {
    sequence: row.sequence,
    event_id: row.event_id,
    timestamp: row.timestamp,
    event_type: row.event_type as TaskEventType,
    task: JSON.parse(row.task) as Task,
    metadata: JSON.parse(row.metadata) as Record<string, string>,
    changed_fields: JSON.parse(row.changed_fields) as string[],
  };
  if (row.previous_task !== null) event.previous_task = JSON.parse(row.previous_task) as Task;
  if (row.actor !== null) event.actor = row.actor;
  return event;
}

export function loggedEventFromRow(row: LoggedEventRow, encoded: Buffer): LoggedEvent {
  return {
    sequence: row[0],
    eventType: row[1] as TaskEventType,
    taskId: row[2],
    assignee: row[3] ?? undefined,
    previousAssignee: row[4] ?? undefined,
    status: row[5] as TaskStatus,
    previousStatus: (row[6] ?? undefined) as TaskStatus | undefined,
    encoded,
  };
}
