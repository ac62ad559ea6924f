import { eventTypeName, statusName, type Task, type TaskEvent } from '../model/task';

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}

/** A plain left-aligned table on stdout. */
export function printTable(headers: string[], rows: string[][]): void {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${[line(headers), ...rows.map(line)].join('\n')}\n`);
}

/** A task for people and for --json: enum values by name. */
export function taskForDisplay(task: Task): Record<string, unknown> {
  return { ...task, status: statusName(task.status) };
}

export function eventForDisplay(event: TaskEvent): Record<string, unknown> {
  return {
    ...event,
    event_type: eventTypeName(event.event_type),
    task: taskForDisplay(event.task),
    ...(event.previous_task && { previous_task: taskForDisplay(event.previous_task) }),
  };
}

export function printTasks(tasks: Task[]): void {
  printTable(
    ['ID', 'STATUS', 'ASSIGNEE', 'DUE', 'VERSION', 'TITLE'],
    tasks.map((t) => [t.id, statusName(t.status), t.assignee ?? '-', t.due_date ?? '-', String(t.version), t.title]),
  );
}

export function printTask(task: Task): void {
  const rows: [string, string][] = [
    ['id', task.id],
    ['title', task.title],
    ['status', statusName(task.status)],
    ['assignee', task.assignee ?? '-'],
    ['due date', task.due_date ?? '-'],
    ['version', String(task.version)],
    ['created', task.created_at],
    ['updated', task.updated_at],
  ];
  if (task.parent_task_id) rows.push(['parent', task.parent_task_id]);
  if (task.source_prd_id) rows.push(['prd', task.source_prd_id]);
  if (task.subtask_ids.length) rows.push(['subtasks', task.subtask_ids.join(', ')]);
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${v}`).join('\n')}\n`);
}

/** One line per event, for people reading a terminal. */
export function formatEventLine(event: TaskEvent): string {
  const t = event.task;
  const changed = event.changed_fields.length ? ` changed=${event.changed_fields.join(',')}` : '';
  return `#${event.sequence} ${event.timestamp} ${eventTypeName(event.event_type)} ${t.id} "${t.title}" status=${statusName(t.status)} assignee=${t.assignee ?? '-'}${changed} actor=${event.actor ?? '-'}`;
}
