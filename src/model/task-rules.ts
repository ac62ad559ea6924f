// The rules of a change, as plain functions: what a new task looks like, what a patch does to a
// task, which fields it changed and which events that implies. The store applies them inside its
// write transaction; nothing here reads or writes anything.
import { RiggerError } from './errors';
import { TaskEventType, TaskStatus, type NewTask, type Task, type TaskPatch } from './task';
import {
  checkLength,
  checkList,
  MAX_ID_LENGTH,
  MAX_NAME_LENGTH,
  MAX_PATH_LENGTH,
  MAX_TEXT_LENGTH,
  validateDueDate,
  validateStatus,
  validateTitle,
} from './validate';

/** The fields a patch may change, in the order changed_fields lists them. */
const PATCHABLE: readonly (keyof TaskPatch)[] = [
  'title',
  'status',
  'assignee',
  'due_date',
  'source_prd_id',
  'parent_task_id',
  'subtask_ids',
  'complexity',
  'reasoning',
  'context_files',
  'dependencies',
];

/** One event a change implies: its type and the fields it reports as changed. */
export interface ImpliedEvent {
  type: TaskEventType;
  changedFields: string[];
}

/** A task created from `input`, validated; `parentId` is the parent as the store found it. */
export function newTask(input: NewTask, id: string, now: string, parentId: string | undefined): Task {
  checkFields(input);
  const task: Task = {
    id,
    title: validateTitle(input.title),
    status: input.status ?? TaskStatus.TODO,
    subtask_ids: [],
    created_at: now,
    updated_at: now,
    context_files: input.context_files ?? [],
    dependencies: input.dependencies ?? [],
    version: 1,
  };
  validateStatus(task.status);
  if (nonEmpty(input.assignee)) task.assignee = input.assignee.trim();
  if (nonEmpty(input.due_date)) task.due_date = validateDueDate(input.due_date);
  if (nonEmpty(input.source_transcript_id)) task.source_transcript_id = input.source_transcript_id;
  if (nonEmpty(input.source_prd_id)) task.source_prd_id = input.source_prd_id;
  if (input.complexity !== undefined) task.complexity = input.complexity;
  if (nonEmpty(input.reasoning)) task.reasoning = input.reasoning;
  if (parentId !== undefined) task.parent_task_id = parentId;
  return task;
}

/** The parent id a new task names, or undefined when it names none. */
export function parentIdOf(input: NewTask): string | undefined {
  return nonEmpty(input.parent_task_id) ? input.parent_task_id : undefined;
}

/** Throws conflict unless the task is at the version the caller expects (when it names one). */
export function checkVersion(task: Task, expectedVersion: number | undefined): void {
  if (expectedVersion === undefined || expectedVersion === task.version) return;
  throw new RiggerError('conflict', `task ${task.id} is at version ${task.version}, not the expected ${expectedVersion}; read it again and retry`, {
    current_version: String(task.version),
  });
}

/**
 * The task after `patch`, validated, with the fields it changed. A patch that changes nothing
 * returns `before` itself and no fields; otherwise the version moves on and updated_at is `now`.
 */
export function patchedTask(before: Task, patch: TaskPatch, now: string): { task: Task; changed: string[] } {
  const task = applyPatch(before, patch);
  const changed = PATCHABLE.filter((field) => !sameValue(before[field], task[field]));
  if (changed.length === 0) return { task: before, changed };
  task.updated_at = now;
  task.version = before.version + 1;
  return { task, changed };
}

/** The events an update that changed `changed` implies: UPDATED, then STATUS_CHANGED and ASSIGNED as they apply. */
export function eventsOfUpdate(changed: readonly string[]): ImpliedEvent[] {
  const events: ImpliedEvent[] = [{ type: TaskEventType.UPDATED, changedFields: [...changed] }];
  if (changed.includes('status')) events.push({ type: TaskEventType.STATUS_CHANGED, changedFields: ['status'] });
  if (changed.includes('assignee')) events.push({ type: TaskEventType.ASSIGNED, changedFields: ['assignee'] });
  return events;
}

/** The task archived (deleting archives), or undefined when it already is. */
export function archivedTask(before: Task, now: string): Task | undefined {
  if (before.status === TaskStatus.ARCHIVED) return undefined;
  return { ...before, status: TaskStatus.ARCHIVED, updated_at: now, version: before.version + 1 };
}

const DATE_LENGTH = 'YYYY-MM-DD'.length;

/** The length limits of every settable field (validate.ts), for a new task or a patch. */
function checkFields(fields: NewTask | TaskPatch): void {
  checkLength(fields.assignee, 'assignee', MAX_NAME_LENGTH);
  checkLength(fields.due_date, 'due_date', DATE_LENGTH);
  checkLength(fields.source_prd_id, 'source_prd_id', MAX_ID_LENGTH);
  checkLength(fields.parent_task_id, 'parent_task_id', MAX_ID_LENGTH);
  checkLength(fields.reasoning, 'reasoning', MAX_TEXT_LENGTH);
  checkList(fields.context_files, 'context_files', MAX_PATH_LENGTH);
  checkList(fields.dependencies, 'dependencies', MAX_ID_LENGTH);
  if ('source_transcript_id' in fields) checkLength(fields.source_transcript_id, 'source_transcript_id', MAX_ID_LENGTH);
  if ('subtask_ids' in fields) checkList(fields.subtask_ids, 'subtask_ids', MAX_ID_LENGTH);
}

function applyPatch(before: Task, patch: TaskPatch): Task {
  checkFields(patch);
  const task: Task = { ...before };
  if (patch.title !== undefined) task.title = validateTitle(patch.title);
  if (patch.status !== undefined) {
    validateStatus(patch.status);
    task.status = patch.status;
  }
  // An empty string clears an optional text field.
  setOptional(task, 'assignee', patch.assignee?.trim());
  setOptional(task, 'due_date', patch.due_date === undefined || patch.due_date === '' ? patch.due_date : validateDueDate(patch.due_date));
  setOptional(task, 'source_prd_id', patch.source_prd_id);
  setOptional(task, 'parent_task_id', patch.parent_task_id);
  setOptional(task, 'reasoning', patch.reasoning);
  if (patch.complexity !== undefined) task.complexity = patch.complexity;
  if (patch.subtask_ids !== undefined) task.subtask_ids = patch.subtask_ids;
  if (patch.context_files !== undefined) task.context_files = patch.context_files;
  if (patch.dependencies !== undefined) task.dependencies = patch.dependencies;
  return task;
}

type OptionalText = 'assignee' | 'due_date' | 'source_prd_id' | 'parent_task_id' | 'reasoning';
function setOptional(task: Task, field: OptionalText, value: string | undefined): void {
  if (value === undefined) return;
  if (value === '') delete task[field];
  else task[field] = value;
}

function nonEmpty(value: string | undefined): value is string {
  return value !== undefined && value.trim() !== '';
}

function sameValue(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((v, i) => v === b[i]);
  return a === b;
}
