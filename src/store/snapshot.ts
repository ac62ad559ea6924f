// The tasks as they are at one sequence S, read page by page (include_snapshot on a subscription).
//
// Why not one long read transaction: a read transaction held while a slow client drains its
// snapshot keeps the WAL from being restarted (checkpointer.ts), so the WAL grows until writes are
// held back, and a RESTART checkpoint holds writers while it waits for such a reader. Reading the
// whole table at once instead costs memory and event-loop time in proportion to the table. So:
//
// S is the head when the first page is read. Each page is its own short read transaction, which
// also reads the head H at that moment and the events (previous H, H]: for every task, the first
// event after S that wrote its row (CREATED, or any event with a previous_task) is remembered. A
// task row read in a page is then the task at S if no such event exists (every change of a row
// writes its event in the same transaction), the previous_task of that event if one does (the row
// just before the first change after S), and not a task at S at all if that event is CREATED. So
// the snapshot is exactly the table at S, however long it takes to send, with at most one page and
// one map entry per task changed meanwhile in memory, and writers never wait for it.
import type { Statement } from 'better-sqlite3';
import { RiggerError } from '../model/errors';
import { loggedEventOf, reducedEvent, snapshotEventOf, type EventEncoder, type LoggedEvent } from '../model/logged-event';
import { TaskEventType, TaskStatus, type Task } from '../model/task';
import { MAX_EVENT_BYTES } from '../model/validate';
import type { SqliteDatabase } from './database';
import { LATEST_SEQUENCE_SQL, TASK_COLUMNS, taskFromRow, type TaskRow } from './rows';

/** Which tasks a snapshot holds, by their state at its sequence; every part given must match. */
export interface SnapshotFilter {
  taskIds?: readonly string[];
  /** Empty or absent: anyone. */
  assignee?: string;
  statuses?: readonly number[];
}

/** Rows read per page (one short read transaction each). */
const PAGE_ROWS = 256;
/** A page stops early past this many encoded bytes, so a page of large tasks stays small. */
const PAGE_BYTES = 1024 * 1024;
/** Events looked at per page at most; behind by more, a page reads no rows until the scan has caught up. */
const SCAN_ROWS = 20_000;

type RowWithRowid = TaskRow & { rid: number };
/** sequence, task_id, event_type, whether it has a previous task. */
type ScanRow = [number, string, number, number];

/** The statements of snapshot reads, prepared once per database. */
export class TaskSnapshots {
  readonly head: Statement<[], { seq: number } | undefined>;
  readonly page: Statement<[number, number], RowWithRowid>;
  readonly pageOfIds: Statement<[number, string, number], RowWithRowid>;
  readonly scan: Statement<[number, number], ScanRow>;
  readonly before: Statement<[number], { event_type: number; previous_task: string | null }>;
  readonly inReadTransaction: <T>(work: () => T) => T;

  constructor(
    db: SqliteDatabase,
    readonly encoder: EventEncoder,
    /** The log's identity, which SNAPSHOT_COMPLETE carries with its sequence. */
    readonly logId: string,
  ) {
    this.head = db.prepare(LATEST_SEQUENCE_SQL);
    this.page = db.prepare(`SELECT rowid AS rid, ${TASK_COLUMNS} FROM tasks WHERE rowid > ? ORDER BY rowid LIMIT ?`);
    // A task's id never changes, so a task_ids filter can go to SQL; assignee and status are judged on the state at S.
    this.pageOfIds = db.prepare(
      `SELECT rowid AS rid, ${TASK_COLUMNS} FROM tasks WHERE rowid > ? AND id IN (SELECT value FROM json_each(?)) ORDER BY rowid LIMIT ?`,
    );
    this.scan = db
      .prepare<[number, number], ScanRow>(
        `SELECT sequence, task_id, event_type, previous_task IS NOT NULL FROM events WHERE sequence > ? AND sequence <= ? ORDER BY sequence`,
      )
      .raw(true);
    this.before = db.prepare(`SELECT event_type, previous_task FROM events WHERE sequence = ?`);
    // Deferred: a read transaction, which in WAL mode never waits for or blocks a writer.
    this.inReadTransaction = db.transaction((work: () => unknown) => work()).deferred as <T>(work: () => T) => T;
  }

  /** A snapshot at the current head; its first page is read now, so its sequence is known at once. */
  open(filter: SnapshotFilter): TaskSnapshot {
    return new TaskSnapshot(this, filter);
  }
}

/** One snapshot being sent: pages of SNAPSHOT entries, then the SNAPSHOT_COMPLETE marker. */
export class TaskSnapshot {
  readonly sequence: number;
  private readonly timestamp = new Date().toISOString();
  private readonly taskIds: string | undefined;
  private readonly assignee: string | undefined;
  private readonly statuses: ReadonlySet<number> | undefined;
  /** The log has been looked at up to here: every row-writing event in (sequence, scanned] is in firstChange. */
  private scanned: number;
  /** Task id -> the first event after `sequence` that wrote its row. */
  private readonly firstChange = new Map<string, number>();
  /** The rowid the next page starts after. */
  private cursor = 0;
  private state: 'paging' | 'complete' | 'done' = 'paging';
  private firstPage: LoggedEvent[] | undefined;

  constructor(
    private readonly statements: TaskSnapshots,
    filter: SnapshotFilter,
  ) {
    this.taskIds = filter.taskIds?.length ? JSON.stringify(filter.taskIds) : undefined;
    this.assignee = filter.assignee === '' ? undefined : filter.assignee;
    this.statuses = filter.statuses?.length ? new Set(filter.statuses) : undefined;
    let head = 0;
    this.firstPage = statements.inReadTransaction(() => {
      head = statements.head.get()?.seq ?? 0;
      this.scanned = head;
      return this.readPage(head);
    });
    this.sequence = head;
    this.scanned = head;
  }

  /** The next entries; the marker last; undefined once done. A page may be empty (none of its rows matched). */
  next(): readonly LoggedEvent[] | undefined {
    if (this.firstPage) {
      const page = this.firstPage;
      this.firstPage = undefined;
      return page;
    }
    if (this.state === 'done') return undefined;
    if (this.state === 'complete') {
      this.state = 'done';
      return [this.marker()];
    }
    return this.statements.inReadTransaction(() => {
      // Rows may be judged only against every change up to the head they are read at.
      const caughtUp = this.scanTo(this.statements.head.get()?.seq ?? 0);
      return caughtUp ? this.readPage(this.sequence) : [];
    });
  }

  close(): void {
    this.state = 'done';
    this.firstPage = undefined;
    this.firstChange.clear();
  }

  /**
   * Remembers the first row-writing event after S of each task, for the events up to `head`, at
   * most SCAN_ROWS of them; true when that reached `head`.
   */
  private scanTo(head: number): boolean {
    if (head <= this.scanned) return true;
    const upTo = Math.min(head, this.scanned + SCAN_ROWS);
    const rows = this.statements.scan.all(this.scanned, upTo);
    // Sequences are gap-free; fewer rows than that means compaction removed some, and with them
    // what this snapshot (and the stream after it) needs.
    if (rows.length !== upTo - this.scanned) {
      throw new RiggerError(
        'unavailable',
        `the snapshot at sequence ${this.sequence} could not be completed: events after it were compacted away while it was read (the retention is shorter than the snapshot took); open the stream again`,
      );
    }
    for (const [sequence, taskId, eventType, hasPrevious] of rows) {
      if ((hasPrevious || eventType === TaskEventType.CREATED) && !this.firstChange.has(taskId)) this.firstChange.set(taskId, sequence);
    }
    this.scanned = upTo;
    return upTo === head;
  }

  /** Up to PAGE_ROWS rows after the cursor, as SNAPSHOT entries of the tasks that match at S. */
  private readPage(sequence: number): LoggedEvent[] {
    const { statements } = this;
    const rows = this.taskIds === undefined ? statements.page.all(this.cursor, PAGE_ROWS) : statements.pageOfIds.all(this.cursor, this.taskIds, PAGE_ROWS);
    const out: LoggedEvent[] = [];
    let bytes = 0;
    for (const row of rows) {
      this.cursor = row.rid;
      const task = this.taskAtSnapshot(row);
      if (task && this.matches(task)) {
        const entry = this.entryOf(task, sequence);
        out.push(entry);
        bytes += entry.encoded.length;
        if (bytes >= PAGE_BYTES) return out; // the rest of the rows on the next page
      }
    }
    if (rows.length < PAGE_ROWS) this.state = 'complete';
    return out;
  }

  /** The task as it was at S, or undefined when it did not exist yet. */
  private taskAtSnapshot(row: TaskRow): Task | undefined {
    const changedAt = this.firstChange.get(row.id);
    if (changedAt === undefined) return taskFromRow(row);
    const event = this.statements.before.get(changedAt);
    if (!event) {
      throw new RiggerError(
        'unavailable',
        `the snapshot at sequence ${this.sequence} could not be completed: event ${changedAt} was compacted away while it was read; open the stream again`,
      );
    }
    if (event.event_type === TaskEventType.CREATED || event.previous_task === null) return undefined;
    return JSON.parse(event.previous_task) as Task;
  }

  private matches(task: Task): boolean {
    return (this.assignee === undefined || task.assignee === this.assignee) && (this.statuses === undefined || this.statuses.has(task.status));
  }

  /** One SNAPSHOT entry, encoded as events are; one too large for a default client is sent reduced, as the log does. */
  private entryOf(task: Task, sequence: number): LoggedEvent {
    const { encoder } = this.statements;
    const event = snapshotEventOf(task, sequence, this.timestamp);
    let encoded = encoder.encode(event);
    if (encoded.length > MAX_EVENT_BYTES) encoded = encoder.encode(reducedEvent(event, encoded.length));
    return loggedEventOf(event, encoded);
  }

  private marker(): LoggedEvent {
    const encoded = this.statements.encoder.encode({
      sequence: this.sequence,
      timestamp: this.timestamp,
      event_type: TaskEventType.SNAPSHOT_COMPLETE,
      log_id: this.statements.logId,
    });
    return {
      sequence: this.sequence,
      eventType: TaskEventType.SNAPSHOT_COMPLETE,
      taskId: '',
      assignee: undefined,
      previousAssignee: undefined,
      status: TaskStatus.UNSPECIFIED,
      previousStatus: undefined,
      encoded,
    };
  }
}
