import type { Statement } from 'better-sqlite3';
import type { LoggedEvent } from '../model/logged-event';
import type { SqliteDatabase } from './database';
import { LOGGED_EVENT_COLUMNS, type LoggedEventRow } from './rows';

/**
 * The part of a subscriber's filter the log is read by (the hub's LogNarrowing): an event is
 * selected when `field` equals one of `values`; for the assignee also when the value before the
 * change does (the filter exit).
 */
export interface IndexedCondition {
  readonly field: 'taskId' | 'assignee';
  readonly values: readonly (string | number)[];
}

/** What one read through the indexes covered. */
export interface IndexedPage {
  /** The selected events with after < sequence <= through, in sequence order, each once. */
  events: LoggedEvent[];
  /** Every selected event up to here is in `events`: the reader's position may move to it. */
  through: number;
  /** The oldest sequence in the log in the same read transaction (compaction check). */
  oldest: number;
}

type Arm = Statement<[string | number, number, number, number], LoggedEventRow>;

const RANGE = 'sequence > ? AND sequence <= ? ORDER BY sequence LIMIT ?';

/**
 * Reads the events a condition selects, each arm (one value of one column) by its own index in
 * sequence order with its own LIMIT, merged here; so SQLite never scans the log or sorts a large
 * set, and a read costs what it returns, however long the stretch of log it covers (the filter
 * indexes of schema.ts). The "before the change" arms use partial indexes holding only the events
 * that changed the assignee, so they are disjoint from the "after" arms unless the
 * condition names both the old and the new value (duplicates are dropped in the merge). A task's
 * events are under its key, or under its id for tasks older than schema 7 (one arm each, disjoint).
 */
export class FilteredLogRead {
  private readonly arms: Record<IndexedCondition['field'], Arm[]>;
  private readonly selectOldest: Statement<[], { s: number | null }>;
  private readonly inSnapshot: (after: number, upTo: number, limit: number, condition: IndexedCondition) => IndexedPage;

  constructor(
    db: SqliteDatabase,
    private readonly eventOf: (row: LoggedEventRow) => LoggedEvent,
    oldestWhenEmpty: () => number,
  ) {
    const arm = (where: string): Arm =>
      db.prepare<[string | number, number, number, number], LoggedEventRow>(`SELECT ${LOGGED_EVENT_COLUMNS} FROM events WHERE ${where} AND ${RANGE}`).raw(true);
    this.arms = {
      // A task's key is looked up in the same statement, so one created while a catch-up pages is found on the next page.
      taskId: [arm('task_key = (SELECT task_key FROM tasks WHERE id = ?)'), arm('task_id = ? AND task_key IS NULL')],
      assignee: [arm('assignee = ?'), arm('previous_assignee = ? AND previous_assignee IS NOT assignee')],
    };
    this.selectOldest = db.prepare(`SELECT min(sequence) AS s FROM events`);
    // One read transaction: the compaction check and the rows come from the same snapshot.
    this.inSnapshot = db.transaction((after: number, upTo: number, limit: number, condition: IndexedCondition) => {
      const oldest = this.selectOldest.get()?.s ?? oldestWhenEmpty();
      return { ...this.merged(after, upTo, limit, condition), oldest };
    });
  }

  /** The SQL of each arm for `field`, for EXPLAIN QUERY PLAN. */
  sqlOf(field: IndexedCondition['field']): string[] {
    return this.arms[field].map((statement) => statement.source);
  }

  read(after: number, upTo: number, limit: number, condition: IndexedCondition): IndexedPage {
    return this.inSnapshot(after, upTo, limit, condition);
  }

  private merged(after: number, upTo: number, limit: number, condition: IndexedCondition): { events: LoggedEvent[]; through: number } {
    let through = upTo;
    const rows: LoggedEventRow[] = [];
    for (const value of new Set(condition.values)) {
      for (const statement of this.arms[condition.field]) {
        const armRows = statement.all(value, after, upTo, limit);
        // A full arm may have more beyond its last row: the page covers only up to there.
        if (armRows.length === limit) through = Math.min(through, armRows[limit - 1]![0]);
        for (const row of armRows) rows.push(row);
      }
    }
    rows.sort((a, b) => a[0] - b[0]);
    const events: LoggedEvent[] = [];
    let last = after;
    for (const row of rows) {
      if (row[0] > through) break;
      if (row[0] === last) continue;
      last = row[0];
      events.push(this.eventOf(row));
      if (events.length === limit) {
        through = last;
        break;
      }
    }
    return { events, through };
  }
}
