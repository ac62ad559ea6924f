// One write transaction's view of the store: each change it makes is written with its events, and
// the events are collected for the hub, which publishes them once the transaction commits. The
// rules of a change are model/task-rules.ts; this file only applies them to the tables.
import { randomUUID } from 'node:crypto';
import type { Statement } from 'better-sqlite3';
import { invalidArgument, notFound } from '../model/errors';
import { loggedEventOf, type EventEncoder, type LoggedEvent } from '../model/logged-event';
import { TaskEventType, type NewTask, type Task, type TaskEvent, type TaskPatch } from '../model/task';
import { archivedTask, checkVersion, eventsOfUpdate, newTask, parentIdOf, patchedTask } from '../model/task-rules';
import { MAX_EVENT_BYTES } from '../model/validate';
import type { SqliteDatabase } from './database';
import { PrdRecords } from './prd-records';
import { LATEST_SEQUENCE_SQL, TASK_COLUMNS, taskToRow, type TaskRow } from './rows';
import type { TaskQueries } from './task-queries';
import { timeOrderedUuid } from './time-ordered-id';

export interface UpdateOptions {
  expectedVersion?: number;
  metadata?: Record<string, string>;
}

/** What a write sees: every change it makes is written with its events in one transaction. */
export interface Mutation {
  readonly actor: string | undefined;
  readonly now: string;
  readonly mutationId: string;
  /** Writes PRDs, enhancements and comprehension tests in this same transaction. */
  readonly prds: PrdRecords;
  getTask(id: string): Task | undefined;
  requireTask(id: string): Task;
  createTask(input: NewTask, metadata?: Record<string, string>): Task;
  /** Applies the patch; returns the task after it. A patch that changes nothing writes no event. */
  updateTask(id: string, patch: TaskPatch, options?: UpdateOptions): { task: Task; changed: string[] };
  /** Archives the task and writes DELETED; archiving an archived task changes nothing. */
  archiveTask(id: string): Task;
  /** Writes one more event about a task (DECOMPOSED, ORCHESTRATED, ...). */
  emit(type: TaskEventType, task: Task, previous: Task | undefined, changedFields: string[], metadata?: Record<string, string>): void;
}

/** The statements every mutation uses, prepared once per database. */
export class MutationStatements {
  readonly insertTask: Statement<TaskRow>;
  readonly replaceTask: Statement<TaskRow>;
  readonly insertEvent: Statement<unknown[]>;
  /** Inside the write transaction no one else can insert, so the next sequence is known before the insert. */
  readonly selectLastSequence: Statement<[], { seq: number } | undefined>;
  readonly prds: PrdRecords;

  /** `logId`: the log identity every event written here carries, in its bytes, for good (its origin, which a restore keeps). */
  constructor(
    db: SqliteDatabase,
    readonly queries: TaskQueries,
    readonly encoder: EventEncoder,
    readonly logId: string,
  ) {
    const columns = TASK_COLUMNS.split(', ');
    // The task's key (schema.ts): the sequence its CREATED event, written next, is given.
    this.insertTask = db.prepare(
      `INSERT INTO tasks (${TASK_COLUMNS}, task_key) VALUES (${columns.map((c) => `@${c}`).join(', ')}, coalesce((${LATEST_SEQUENCE_SQL}), 0) + 1)`,
    );
    this.replaceTask = db.prepare(
      `UPDATE tasks SET ${columns
        .filter((c) => c !== 'id')
        .map((c) => `${c} = @${c}`)
        .join(', ')} WHERE id = @id`,
    );
    this.insertEvent = db.prepare(
      `INSERT INTO events (sequence, event_id, event_type, timestamp, actor, task_id, task, previous_task, changed_fields, metadata,
         encoded, assignee, previous_assignee, status, previous_status, task_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT task_key FROM tasks WHERE id = ?))`,
    );
    this.selectLastSequence = db.prepare(LATEST_SEQUENCE_SQL);
    this.prds = new PrdRecords(db);
  }
}

/** A Mutation over the tables; `events` collects what it wrote, in sequence order. */
export class StoreMutation implements Mutation {
  readonly now = new Date().toISOString();
  readonly mutationId = randomUUID();

  constructor(
    private readonly statements: MutationStatements,
    readonly actor: string | undefined,
    readonly events: LoggedEvent[],
  ) {}

  get prds(): PrdRecords {
    return this.statements.prds;
  }

  getTask(id: string): Task | undefined {
    return this.statements.queries.getTask(id);
  }

  requireTask(id: string): Task {
    const task = this.getTask(id);
    if (!task) throw notFound(`task ${JSON.stringify(id)} does not exist`);
    return task;
  }

  createTask(input: NewTask, metadata?: Record<string, string>): Task {
    const parentId = parentIdOf(input);
    const task = newTask(input, randomUUID(), this.now, parentId);
    if (parentId !== undefined && !this.getTask(parentId)) throw notFound(`parent_task_id ${JSON.stringify(parentId)} does not exist`);
    this.statements.insertTask.run(taskToRow(task));
    this.emit(TaskEventType.CREATED, task, undefined, [], metadata);
    return task;
  }

  updateTask(id: string, patch: TaskPatch, options: UpdateOptions = {}): { task: Task; changed: string[] } {
    const before = this.requireTask(id);
    checkVersion(before, options.expectedVersion);
    const { task, changed } = patchedTask(before, patch, this.now);
    if (changed.length === 0) return { task, changed };
    this.statements.replaceTask.run(taskToRow(task));
    for (const event of eventsOfUpdate(changed)) this.emit(event.type, task, before, event.changedFields, options.metadata);
    return { task, changed };
  }

  archiveTask(id: string): Task {
    const before = this.requireTask(id);
    const task = archivedTask(before, this.now);
    if (!task) return before;
    this.statements.replaceTask.run(taskToRow(task));
    this.emit(TaskEventType.DELETED, task, before, ['status']);
    return task;
  }

  emit(type: TaskEventType, task: Task, previous: Task | undefined, changedFields: string[], metadata?: Record<string, string>): void {
    const { statements, now } = this;
    const event: TaskEvent = {
      sequence: (statements.selectLastSequence.get()?.seq ?? 0) + 1,
      event_id: timeOrderedUuid(),
      timestamp: now,
      event_type: type,
      task,
      metadata: { ...metadata, mutation_id: this.mutationId },
      changed_fields: changedFields,
      log_id: statements.logId,
    };
    if (previous) event.previous_task = previous;
    if (this.actor !== undefined) event.actor = this.actor;
    const encoded = statements.encoder.encode(event);
    // Every write path (gRPC, CLI, TaskEventStream, PRD generation) ends here, before the commit.
    if (encoded.length > MAX_EVENT_BYTES) {
      throw invalidArgument(
        `this change makes an event of ${encoded.length} bytes for task ${task.id}; the maximum is ${MAX_EVENT_BYTES} (what every client accepts); nothing was written`,
      );
    }
    const logged = loggedEventOf(event, encoded);
    statements.insertEvent.run(
      event.sequence,
      event.event_id,
      type,
      now,
      this.actor ?? null,
      task.id,
      JSON.stringify(task),
      previous ? JSON.stringify(previous) : null,
      JSON.stringify(changedFields),
      JSON.stringify(event.metadata),
      logged.encoded,
      logged.assignee ?? null,
      logged.previousAssignee ?? null,
      logged.status,
      logged.previousStatus ?? null,
      task.id,
    );
    this.events.push(logged);
  }
}
