// The ListTasks filter shapes the list tests go through, each with the rule of which tasks it
// matches, and the tasks' ground truth read straight from the SQLite file.
import Database from 'better-sqlite3';
import type { TaskStatus } from '../../src/model/task';
import type { ListShape } from '../../src/store/task-queries';

const ARCHIVED = 10;

/** The statuses the tests use: TODO, IN_PROGRESS, COMPLETED, ARCHIVED. */
export type UsedStatus = 1 | 2 | 9 | 10;

export interface ListRequestShape {
  status?: UsedStatus;
  assignee?: string;
  include_archived?: boolean;
}

export interface Shape {
  name: string;
  request: ListRequestShape;
}

/** Every shape a request can express, over the assignees Alice and Bob (and one nobody has). */
export const SHAPES: Shape[] = [
  { name: 'no filter', request: {} },
  { name: 'include_archived', request: { include_archived: true } },
  { name: 'status', request: { status: 2 } },
  { name: 'status ARCHIVED', request: { status: ARCHIVED } },
  { name: 'assignee', request: { assignee: 'Alice' } },
  { name: 'assignee, include_archived', request: { assignee: 'Bob', include_archived: true } },
  { name: 'status and assignee', request: { status: 2, assignee: 'Bob' } },
  { name: 'assignee nobody has', request: { assignee: 'Nobody' } },
];

export interface TaskFacts {
  id: string;
  status: number;
  assignee: string | null;
}

/** Whether a task is in the listing `request` asks for (the documented rule, not the server's SQL). */
export function matches(request: ListRequestShape, task: Omit<TaskFacts, 'id'>): boolean {
  if (request.status !== undefined ? task.status !== request.status : !request.include_archived && task.status === ARCHIVED) return false;
  return request.assignee === undefined || task.assignee === request.assignee;
}

/** The store-level filter of a request shape. */
export function listShapeOf(request: ListRequestShape): ListShape {
  return {
    includeArchived: request.include_archived === true,
    ...(request.status !== undefined && { status: request.status as TaskStatus }),
    ...(request.assignee !== undefined && { assignee: request.assignee }),
  };
}

/** Every task in the file, newest first (a separate read-only connection). */
export function tasksInFile(file: string): TaskFacts[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare('SELECT id, status, assignee FROM tasks ORDER BY rowid DESC').all() as TaskFacts[];
  } finally {
    db.close();
  }
}
