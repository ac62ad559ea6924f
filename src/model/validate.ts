import { invalidArgument } from './errors';
import { isStatus, statusName } from './task';

// The most any client may set, so that no stored event can outgrow what a client with default
// limits accepts (4 MiB a message in grpc-js, grpcio and Go). Lengths count characters.
export const MAX_TITLE_LENGTH = 500;
/** An assignee, an actor. */
export const MAX_NAME_LENGTH = 200;
/** A task id, a PRD id, a transcript id. */
export const MAX_ID_LENGTH = 200;
/** A task's reasoning, an enhancement's text. */
export const MAX_TEXT_LENGTH = 20_000;
/** A file path (a PRD's, a context file's). */
export const MAX_PATH_LENGTH = 4096;
/** Entries in one list: a filter's task ids or types, a task's subtasks, context files, dependencies. */
export const MAX_LIST_ENTRIES = 1000;
/** One encoded event (the task after and before the change), checked before it is committed. */
export const MAX_EVENT_BYTES = 1024 * 1024;
/** One response carrying many tasks (GenerateTasksFromPRD), checked before anything is committed. */
export const MAX_RESPONSE_BYTES = 3 * 1024 * 1024;
/** The shortest bookmark interval a stream may ask for: below it bookmarks would be most of the traffic. */
export const MIN_BOOKMARK_INTERVAL_MS = 100;
/** The longest: a heartbeat rarer than this tells a client nothing it can act on. */
export const MAX_BOOKMARK_INTERVAL_MS = 3_600_000;
/**
 * What the typed client, `rig events` and the sidecars ask for unless told otherwise: a filtered
 * checkpoint then moves with the head even when nothing matches for days, and a dead connection is
 * noticed within 2.5 intervals (12.5 s). A bookmark is a few bytes; an idle stream costs the server one timer.
 */
export const DEFAULT_BOOKMARK_INTERVAL_MS = 5000;
/** Tasks one GenerateTasksFromPRD call may create. */
export const MAX_GENERATED_TASKS = 1000;

/** Refuses `value` when longer than `max` characters, naming the field and the limit. */
export function checkLength(value: string | undefined, field: string, max: number): void {
  if (value === undefined || value.length <= max) return;
  const length = [...value].length;
  if (length > max) throw invalidArgument(`${field} is ${length} characters; the maximum is ${max}`);
}

/** Refuses a list with more than `max` entries, or an entry longer than `maxEntryLength`. */
export function checkList(values: readonly string[] | undefined, field: string, maxEntryLength: number, max = MAX_LIST_ENTRIES): void {
  if (values === undefined) return;
  if (values.length > max) throw invalidArgument(`${field} has ${values.length} entries; the maximum is ${max}`);
  values.forEach((value, i) => checkLength(value, `${field}[${i}]`, maxEntryLength));
}

export function validateTitle(title: string | undefined, field = 'title'): string {
  const trimmed = (title ?? '').trim();
  if (trimmed === '') throw invalidArgument(`${field} must not be empty`);
  if ([...trimmed].length > MAX_TITLE_LENGTH) {
    throw invalidArgument(`${field} is ${[...trimmed].length} characters; the maximum is ${MAX_TITLE_LENGTH}`);
  }
  return trimmed;
}

/** A real calendar date written YYYY-MM-DD (2025-02-30 is refused). */
export function validateDueDate(value: string, field = 'due_date'): string {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(value);
  // setUTCFullYear, unlike Date.UTC, does not map years 0-99 to 1900-1999.
  const date = new Date(0);
  if (match) date.setUTCFullYear(Number(match[1]), Number(match[2]) - 1, Number(match[3]));
  if (!match || date.toISOString().slice(0, 10) !== value) {
    throw invalidArgument(`${field} "${value}" is not a calendar date in the form YYYY-MM-DD (e.g. 2025-12-31)`);
  }
  return value;
}

export function validateStatus(value: number, field = 'status'): void {
  if (!isStatus(value)) {
    const what = value === 0 ? 'TASK_STATUS_UNSPECIFIED' : String(value);
    throw invalidArgument(
      `${field} ${what} is not a task status; use one of ${[1, 2, 3, 4, 5, 6, 7, 8, 9, 10].map((s) => `${s} (${statusName(s)})`).join(', ')}`,
    );
  }
}
