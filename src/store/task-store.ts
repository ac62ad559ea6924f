import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { RiggerError, notFound } from '../model/errors';
import {
  TaskEventType,
  TaskStatus,
  type NewTask,
  type Task,
  type TaskEvent,
  type TaskPatch,
} from '../model/task';
import { loggedEventOf, type EventEncoder, type LoggedEvent } from '../model/logged-event';
import { validateDueDate, validateStatus, validateTitle } from '../model/validate';
import type { SqliteDatabase } from './database';
import { PrdRecords, type PrdReader } from './prd-records';
import { TASK_COLUMNS, taskFromRow, taskToRow, type TaskRow } from './rows';

export interface ListFilter {
  status?: TaskStatus;
  assignee?: string;
  limit: number;
  offset: number;
  includeArchived?: boolean;
}

export interface UpdateOptions {
  expectedVersion?: number;
  metadata?: Record<string, string>;
}

/** What a mutation sees: every change it makes is written with its events in one transaction. */
export interface Mutation {
  readonly actor: string | undefined;
  readonly now: string;
  readonly mutationId: string;
  getTask(id: string): Task | undefined;
  requireTask(id: string): Task;
  createTask(input: NewTask, metadata?: Record<string, string>): Task;
  /** Applies the patch; returns the task after it. A patch that changes nothing writes no event. */
  updateTask(id: string, patch: TaskPatch, options?: UpdateOptions): { task: Task; changed: string[] };
  /** Archives the task and writes DELETED; archiving an archived task changes nothing. */
  archiveTask(id: string): Task;
  /** Writes one more event about a task (DECOMPOSED, ORCHESTRATED, ...). */
  emit(type: TaskEventType, task: Task, previous: Task | undefined, changedFields: string[], metadata?: Record<string, string>): void;
  /** Writes PRDs, enhancements and comprehension tests in this same transaction. */
  readonly prds: PrdRecords;
}

export type CommitListener = (events: LoggedEvent[]) => void;

interface QueuedMutation {
  actor: string | undefined;
  work: (m: Mutation) => unknown;
  resolve(result: unknown): void;
  reject(error: unknown): void;
}

type ListQuery = (params: unknown[], limit: number, offset: number) => { tasks: Task[]; total: number };

/** The most mutations one group commit takes; the rest wait for the next one. */
const MAX_GROUP = 256;

const PATCHABLE: (keyof TaskPatch)[] = [
  'title', 'status', 'assignee', 'due_date', 'source_prd_id', 'parent_task_id',
  'subtask_ids', 'complexity', 'reasoning', 'context_files', 'dependencies',
];

/** The only writer of tasks and events. */
export class TaskStore {
  private readonly listeners: CommitListener[] = [];
  private readonly selectTask: Statement<[string], TaskRow>;
  private readonly insertTask: Statement<TaskRow>;
  private readonly replaceTask: Statement<TaskRow>;
  private readonly insertEvent: Statement<unknown[]>;
  private readonly selectLastSequence: Statement<[], { seq: number } | undefined>;
  private readonly prdRecords: PrdRecords;
  /** One BEGIN IMMEDIATE transaction wrapper, made once: better-sqlite3 builds four wrappers per db.transaction() call. */
  private readonly inWriteTransaction: <T>(work: () => T) => T;
  /** Inside a transaction, better-sqlite3 runs a nested one as a SAVEPOINT. */
  private readonly inSavepoint: <T>(work: () => T) => T;
  private readonly queue: QueuedMutation[] = [];
  private readonly listQueries = new Map<string, ListQuery>();

  constructor(
    private readonly db: SqliteDatabase,
    private readonly encoder: EventEncoder,
  ) {
    this.prdRecords = new PrdRecords(db);
    this.inWriteTransaction = db.transaction((work: () => unknown) => work()).immediate as <T>(work: () => T) => T;
    this.inSavepoint = db.transaction((work: () => unknown) => work()) as <T>(work: () => T) => T;
    this.selectTask = db.prepare(`SELECT ${TASK_COLUMNS} FROM tasks WHERE id = ?`);
    const placeholders = TASK_COLUMNS.split(', ').map((c) => `@${c}`).join(', ');
    this.insertTask = db.prepare(`INSERT INTO tasks (${TASK_COLUMNS}) VALUES (${placeholders})`);
    this.replaceTask = db.prepare(
      `UPDATE tasks SET ${TASK_COLUMNS.split(', ').filter((c) => c !== 'id').map((c) => `${c} = @${c}`).join(', ')} WHERE id = @id`,
    );
    this.insertEvent = db.prepare(
      `INSERT INTO events (sequence, event_id, event_type, timestamp, actor, task_id, task, previous_task, changed_fields, metadata,
         encoded, assignee, previous_assignee, status, previous_status)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    // Inside the write transaction no one else can insert, so the next sequence is known before the
    // insert and the event is encoded with it.
    this.selectLastSequence = db.prepare(`SELECT seq FROM sqlite_sequence WHERE name = 'events'`);
  }

  /** Stored PRDs, enhancements and comprehension tests (written only through mutate). */
  get prds(): PrdReader {
    return this.prdRecords;
  }

  /** Called after every commit with the events it wrote, in sequence order. */
  onCommit(listener: CommitListener): void {
    this.listeners.push(listener);
  }

  getTask(id: string): Task | undefined {
    const row = this.selectTask.get(id);
    return row ? taskFromRow(row) : undefined;
  }

  listTasks(filter: ListFilter): { tasks: Task[]; total: number } {
    const where: string[] = [];
    const params: unknown[] = [];
    if (filter.status !== undefined) {
      where.push('status = ?');
      params.push(filter.status);
    } else if (!filter.includeArchived) {
      where.push('status != ?');
      params.push(TaskStatus.ARCHIVED);
    }
    if (filter.assignee !== undefined) {
      where.push('assignee = ?');
      params.push(filter.assignee);
    }
    return this.listQuery(where.length ? `WHERE ${where.join(' AND ')}` : '')(params, filter.limit, filter.offset);
  }

  /** The count and the page for one WHERE clause, in one read transaction; prepared once per clause (there are six). */
  private listQuery(clause: string): ListQuery {
    let query = this.listQueries.get(clause);
    if (!query) {
      const count = this.db.prepare(`SELECT count(*) AS n FROM tasks ${clause}`);
      const page = this.db.prepare(`SELECT ${TASK_COLUMNS} FROM tasks ${clause} ORDER BY rowid DESC LIMIT ? OFFSET ?`);
      query = this.db.transaction((params: unknown[], limit: number, offset: number) => {
        const { n } = count.get(...params) as { n: number };
        const rows = page.all(...params, limit, offset) as TaskRow[];
        return { tasks: rows.map(taskFromRow), total: n };
      }) as ListQuery;
      this.listQueries.set(clause, query);
    }
    return query;
  }

  addTask(input: NewTask, actor?: string, metadata?: Record<string, string>): Task {
    return this.mutate(actor, (m) => m.createTask(input, metadata));
  }

  updateTask(id: string, patch: TaskPatch, actor?: string, options?: UpdateOptions): Task {
    return this.mutate(actor, (m) => m.updateTask(id, patch, options).task);
  }

  deleteTask(id: string, actor?: string): Task {
    return this.mutate(actor, (m) => m.archiveTask(id));
  }

  /** Runs `work` in one write transaction; its events are published only after the commit. */
  mutate<T>(actor: string | undefined, work: (m: Mutation) => T): T {
    const events: LoggedEvent[] = [];
    let result: T;
    this.encoder.prepare();
    try {
      result = this.inWriteTransaction(() => work(this.mutation(actor, events)));
    } catch (error) {
      throw translateSqliteError(error);
    }
    this.publish(events);
    return result;
  }

  /**
   * Group commit: like mutate, but joins the mutations queued in the same turn of the event loop
   * into one transaction, which costs one commit instead of one each. Every mutation runs in its
   * own savepoint, so one that throws is rolled back alone; all settle after the COMMIT, and if the
   * COMMIT fails, all fail and nothing of theirs is written.
   */
  mutateGrouped<T>(actor: string | undefined, work: (m: Mutation) => T): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ actor, work, resolve: resolve as (result: unknown) => void, reject });
      if (this.queue.length === 1) setImmediate(() => this.commitGroup());
    });
  }

  private commitGroup(): void {
    const group = this.queue.splice(0, MAX_GROUP);
    if (this.queue.length > 0) setImmediate(() => this.commitGroup());
    const events: LoggedEvent[] = [];
    const outcomes: { ok: boolean; value: unknown }[] = [];
    this.encoder.prepare();
    try {
      this.inWriteTransaction(() => {
        for (const item of group) {
          const itemEvents: LoggedEvent[] = [];
          try {
            outcomes.push({ ok: true, value: this.inSavepoint(() => item.work(this.mutation(item.actor, itemEvents))) });
            events.push(...itemEvents);
          } catch (error) {
            // Some SQLite errors (a full disk, I/O) roll back the whole transaction: stop, all fail.
            if (!this.db.inTransaction) throw error;
            outcomes.push({ ok: false, value: translateSqliteError(error) });
          }
        }
      });
    } catch (error) {
      const failure = translateSqliteError(error);
      for (const item of group) item.reject(failure);
      return;
    }
    this.publish(events);
    group.forEach((item, i) => (outcomes[i]!.ok ? item.resolve(outcomes[i]!.value) : item.reject(outcomes[i]!.value)));
  }

  private publish(events: LoggedEvent[]): void {
    if (events.length > 0) for (const listener of this.listeners) listener(events);
  }

  private mutation(actor: string | undefined, events: LoggedEvent[]): Mutation {
    const now = new Date().toISOString();
    const mutationId = randomUUID();
    const store = this;
    const m: Mutation = {
      actor,
      now,
      mutationId,
      prds: store.prdRecords,
      getTask: (id) => store.getTask(id),
      requireTask(id) {
        const task = store.getTask(id);
        if (!task) throw notFound(`task ${JSON.stringify(id)} does not exist`);
        return task;
      },
      createTask(input, metadata) {
        const task: Task = {
          id: randomUUID(),
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
        if (nonEmpty(input.parent_task_id)) {
          const parent = store.getTask(input.parent_task_id);
          if (!parent) throw notFound(`parent_task_id ${JSON.stringify(input.parent_task_id)} does not exist`);
          task.parent_task_id = parent.id;
        }
        store.insertTask.run(taskToRow(task));
        m.emit(TaskEventType.CREATED, task, undefined, [], metadata);
        return task;
      },
      updateTask(id, patch, options = {}) {
        const before = m.requireTask(id);
        if (options.expectedVersion !== undefined && options.expectedVersion !== before.version) {
          throw new RiggerError(
            'conflict',
            `task ${id} is at version ${before.version}, not the expected ${options.expectedVersion}; read it again and retry`,
            { current_version: String(before.version) },
          );
        }
        const task = applyPatch(before, patch);
        const changed = PATCHABLE.filter((f) => !sameValue(before[f], task[f]));
        if (changed.length === 0) return { task: before, changed };
        task.updated_at = now;
        task.version = before.version + 1;
        store.replaceTask.run(taskToRow(task));
        m.emit(TaskEventType.UPDATED, task, before, changed, options.metadata);
        if (changed.includes('status')) m.emit(TaskEventType.STATUS_CHANGED, task, before, ['status'], options.metadata);
        if (changed.includes('assignee')) m.emit(TaskEventType.ASSIGNED, task, before, ['assignee'], options.metadata);
        return { task, changed };
      },
      archiveTask(id) {
        const before = m.requireTask(id);
        if (before.status === TaskStatus.ARCHIVED) return before;
        const task = { ...before, status: TaskStatus.ARCHIVED, updated_at: now, version: before.version + 1 };
        store.replaceTask.run(taskToRow(task));
        m.emit(TaskEventType.DELETED, task, before, ['status']);
        return task;
      },
      emit(type, task, previous, changedFields, metadata) {
        const event: TaskEvent = {
          sequence: (store.selectLastSequence.get()?.seq ?? 0) + 1,
          event_id: randomUUID(),
          timestamp: now,
          event_type: type,
          task,
          metadata: { ...metadata, mutation_id: mutationId },
          changed_fields: changedFields,
        };
        if (previous) event.previous_task = previous;
        if (actor !== undefined) event.actor = actor;
        const logged = loggedEventOf(event, store.encoder.encode(event));
        store.insertEvent.run(
          event.sequence, event.event_id, type, now, actor ?? null, task.id, JSON.stringify(task),
          previous ? JSON.stringify(previous) : null, JSON.stringify(changedFields), JSON.stringify(event.metadata),
          logged.encoded, logged.assignee ?? null, logged.previousAssignee ?? null, logged.status, logged.previousStatus ?? null,
        );
        events.push(logged);
      },
    };
    return m;
  }
}

function applyPatch(before: Task, patch: TaskPatch): Task {
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

/** Maps SQLite's failures to domain errors; nothing was written when this is thrown. */
export function translateSqliteError(error: unknown): unknown {
  const code = (error as { code?: string }).code;
  if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
    return new RiggerError('unavailable', 'the database is locked by another process; nothing was written, try again');
  }
  if (code === 'SQLITE_FULL') {
    return new RiggerError('storage_full', 'the disk holding the database is full; nothing was written');
  }
  if (code === 'SQLITE_READONLY') {
    return new RiggerError('unavailable', 'the database is read-only; nothing was written');
  }
  return error;
}
