// Prefills a real project's database with N tasks, one CREATED event each, through the store's own
// write path (TaskStore.write, many tasks per transaction): the rows are exactly those AddTask
// writes, whatever the schema keeps beside them. Only the bulk load is made faster: no sync per
// commit, a page cache of up to 2 GiB, and the non-unique indexes dropped for the load and created again
// from their own SQL afterwards (a sorted build instead of a random insert per row).
import fs from 'node:fs';
import { TaskStatus } from '../../src/model/task';
import { taskEventEncoder } from '../../src/protocol/event-codec';
import { openStore } from '../../src/store/store';
import { benchTitle } from '../prefill';
import { wallClockMs } from '../stats';

/** The assignee of every hundredth task: a filter matching a hundredth of the tasks. */
export const COMMON_ASSIGNEE = 'user-07';
/** The assignee of SPARSE_TASKS tasks spread evenly over the log: a filter matching almost nothing. */
export const SPARSE_ASSIGNEE = 'sparse-owner';
export const SPARSE_TASKS = 10;
const TASKS_PER_TRANSACTION = 10_000;

export interface PrefilledTasks {
  tasks: number;
  /** The newest sequence after the prefill (one event per task). */
  headSequence: number;
  /** A task created half-way through the log, with one event: the one-task subscriber's filter. */
  middleTaskId: string;
  middleTaskSequence: number;
  sparseAssigneeEvents: number;
  commonAssigneeTasks: number;
  todoTasks: number;
  /** The database file's size once its WAL is checkpointed into it. */
  bytes: number;
  elapsedMs: number;
}

/** Statuses as a project's tasks spread: 7 in 10 to do, 2 in progress, 1 completed. */
function statusOf(i: number): TaskStatus {
  const tenth = i % 10;
  return tenth < 7 ? TaskStatus.TODO : tenth < 9 ? TaskStatus.IN_PROGRESS : TaskStatus.COMPLETED;
}

export function prefillTasks(dbFile: string, tasks: number): PrefilledTasks {
  const startedAt = wallClockMs();
  const store = openStore(dbFile, taskEventEncoder);
  const sparseEvery = Math.max(1, Math.floor(tasks / SPARSE_TASKS));
  const middle = Math.floor(tasks / 2);
  let middleTaskId = '';
  let middleTaskSequence = 0;
  let sparse = 0;
  let common = 0;
  let todo = 0;
  try {
    store.db.pragma('synchronous = OFF');
    store.db.pragma('cache_size = -2097152'); // the random-keyed indexes (task and event ids) of the largest sizes stay in it
    const indexes = store.db
      .prepare(`SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%'`)
      .all() as { name: string; sql: string }[];
    for (const index of indexes) store.db.exec(`DROP INDEX "${index.name}"`);
    const base = store.log.latestSequence();
    for (let written = 0; written < tasks;) {
      const batch = Math.min(TASKS_PER_TRANSACTION, tasks - written);
      store.tasks.write('bench-prefill', (m) => {
        for (let i = written; i < written + batch; i++) {
          const isSparse = i % sparseEvery === Math.floor(sparseEvery / 2) && sparse < SPARSE_TASKS;
          const assignee = isSparse ? SPARSE_ASSIGNEE : `user-${String(i % 100).padStart(2, '0')}`;
          const status = statusOf(i);
          const task = m.createTask({ title: benchTitle(i), assignee, status });
          if (isSparse) sparse++;
          if (assignee === COMMON_ASSIGNEE) common++;
          if (status === TaskStatus.TODO) todo++;
          if (i === middle) {
            middleTaskId = task.id;
            middleTaskSequence = base + i + 1;
          }
        }
      });
      written += batch;
    }
    for (const index of indexes) store.db.exec(index.sql);
    store.db.pragma('wal_checkpoint(TRUNCATE)');
    const headSequence = store.log.latestSequence();
    store.close();
    return {
      tasks,
      headSequence,
      middleTaskId,
      middleTaskSequence,
      sparseAssigneeEvents: sparse,
      commonAssigneeTasks: common,
      todoTasks: todo,
      bytes: fs.statSync(dbFile).size,
      elapsedMs: wallClockMs() - startedAt,
    };
  } catch (error) {
    if (store.db.open) store.close();
    throw error;
  }
}
