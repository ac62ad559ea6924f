// The JSON of one task event, as every sidecar that forwards events writes it (the NATS bridge's
// payload, the webhook's --format json body, the exec sidecar's stdin): the TaskEvent as the wire
// decodes it, with the proto's field names (snake_case) and enums as numbers. One encoder, so the
// three stay byte-for-byte the same.
import { eventTypeName, statusName, type TaskEvent } from '../src/model/task';

export function eventJson(event: TaskEvent): string {
  return JSON.stringify(event);
}

/** An event in a few readable fields, as the logger writes its lines and the board its feed. */
export interface EventSummary {
  sequence: number;
  type: string;
  task_id: string;
  title: string;
  status: string;
  assignee: string | null;
  actor: string | null;
  timestamp: string;
}

export function eventSummary(event: TaskEvent): EventSummary {
  return {
    sequence: event.sequence,
    type: eventTypeName(event.event_type),
    task_id: event.task.id,
    title: event.task.title,
    status: statusName(event.task.status),
    assignee: event.task.assignee ?? null,
    actor: event.actor ?? null,
    timestamp: event.timestamp,
  };
}
