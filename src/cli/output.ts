import { safeText, UNSAFE_JSON } from '../config/terminal-text';
import { eventTypeName, statusName, type Task, type TaskEvent } from '../model/task';

/** safeText in double quotes, with `"` escaped too: the quoted value cannot end early. */
export function quotedText(text: string): string {
  return `"${safeText(text).replace(/"/g, '\\"')}"`;
}

/** A `key=value` value: `-` when unset, quoted when it is empty or holds a space, `"` or `=`. */
function fieldValue(value: string | undefined): string {
  if (value === undefined) return '-';
  return value === '' || /[\s"=]/.test(value) ? quotedText(value) : safeText(value);
}

/**
 * One JSON document on one line. The strings are exact (JSON.parse gives them back unchanged);
 * DEL, C1 controls, U+2028/U+2029 and bidi controls are written as \u escapes as well, so no line
 * splitter (Python's splitlines splits at U+0085 and U+2028) and no terminal sees them raw.
 */
export function jsonLine(value: unknown): string {
  return JSON.stringify(value).replace(UNSAFE_JSON, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

export function printJson(value: unknown): void {
  process.stdout.write(`${jsonLine(value)}\n`);
}

/** A plain left-aligned table on stdout; every cell goes through safeText. */
export function printTable(headers: string[], rows: string[][]): void {
  const cells = rows.map((row) => row.map(safeText));
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => (r[i] ?? '').length)));
  const line = (row: string[]) => row.map((c, i) => (i === row.length - 1 ? c : c.padEnd(widths[i]!))).join('  ');
  process.stdout.write(`${[line(headers), ...cells.map(line)].join('\n')}\n`);
}

/** `key  value` lines on stdout; every value goes through safeText. */
export function printFields(rows: [string, string][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  process.stdout.write(`${rows.map(([k, v]) => `${k.padEnd(width)}  ${safeText(v)}`).join('\n')}\n`);
}

/** A task for people and for --json: enum values by name. */
export function taskForDisplay(task: Task): Record<string, unknown> {
  return { ...task, status: statusName(task.status) };
}

export function eventForDisplay(event: TaskEvent): Record<string, unknown> {
  return {
    ...event,
    event_type: eventTypeName(event.event_type),
    // BOOKMARK and SNAPSHOT_COMPLETE carry no task.
    ...(event.task && { task: taskForDisplay(event.task) }),
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
  printFields(rows);
}

/** One line per event, for people reading a terminal and for shell pipelines: always exactly one line. */
export function formatEventLine(event: TaskEvent): string {
  const t = event.task as TaskEvent['task'] | undefined;
  // BOOKMARK and SNAPSHOT_COMPLETE: a position, no task.
  if (!t) return `#${event.sequence} ${safeText(event.timestamp)} ${eventTypeName(event.event_type)}`;
  const changed = event.changed_fields.length ? ` changed=${safeText(event.changed_fields.join(','))}` : '';
  return `#${event.sequence} ${safeText(event.timestamp)} ${eventTypeName(event.event_type)} ${safeText(t.id)} ${quotedText(t.title)} status=${statusName(t.status)} assignee=${fieldValue(t.assignee)}${changed} actor=${fieldValue(event.actor)}`;
}
