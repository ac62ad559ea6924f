// Checks of a rigger database file from outside the server: SQLite's own integrity check and the
// invariants that a write is all-or-nothing (no task without its CREATED event, no event without
// its task, every task row equal to the version its newest event recorded).
import Database from 'better-sqlite3';

export interface DatabaseCheck {
  integrity: string;
  tasks: number;
  events: number;
  tasksWithoutCreated: number;
  eventsWithoutTask: number;
  /** Tasks whose row version differs from the task in their newest event. */
  rowsDisagreeingWithLog: number;
}

export function checkDatabase(file: string): DatabaseCheck {
  const db = new Database(file, { fileMustExist: true });
  try {
    db.pragma('busy_timeout = 5000');
    const count = (sql: string) => (db.prepare(sql).get() as { n: number }).n;
    return {
      integrity: (db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check).join('; '),
      tasks: count('SELECT count(*) AS n FROM tasks'),
      events: count('SELECT count(*) AS n FROM events'),
      tasksWithoutCreated: count('SELECT count(*) AS n FROM tasks t WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.task_id = t.id AND e.event_type = 1)'),
      eventsWithoutTask: count('SELECT count(*) AS n FROM events e WHERE NOT EXISTS (SELECT 1 FROM tasks t WHERE t.id = e.task_id)'),
      rowsDisagreeingWithLog: count(
        `SELECT count(*) AS n FROM tasks t
         WHERE json_extract((SELECT e.task FROM events e WHERE e.task_id = t.id ORDER BY e.sequence DESC LIMIT 1), '$.version') != t.version`,
      ),
    };
  } finally {
    db.close();
  }
}

/** Asserts the invariants; returns the check for further assertions. */
export function assertConsistent(file: string, assert: { equal(a: unknown, b: unknown, m?: string): void }): DatabaseCheck {
  const check = checkDatabase(file);
  assert.equal(check.integrity, 'ok', 'PRAGMA integrity_check');
  assert.equal(check.tasksWithoutCreated, 0, 'tasks without their CREATED event');
  assert.equal(check.eventsWithoutTask, 0, 'events without their task');
  assert.equal(check.rowsDisagreeingWithLog, 0, 'task rows that disagree with their newest event');
  return check;
}
