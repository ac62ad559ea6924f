import type { TaskEvent, TaskEventType, TaskStatus } from './task';

/** Encodes a whole event (sequence included) to the bytes subscribers receive. */
export interface EventEncoder {
  /** Readies encode() (loads the schema); the store calls it before a write transaction, which is then not held open by it. */
  prepare(): void;
  encode(event: TaskEvent): Buffer;
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
