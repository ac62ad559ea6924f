import { invalidArgument } from './errors';
import { isStatus, statusName } from './task';

export const MAX_TITLE_LENGTH = 500;

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
