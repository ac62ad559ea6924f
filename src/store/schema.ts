// Versioned schema. Migration N brings PRAGMA user_version from N-1 to N; each runs in one
// transaction. application_id marks the file as ours so a foreign SQLite file is never touched.

export const APPLICATION_ID = 0x52494747; // "RIGG"

export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE tasks (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    assignee TEXT,
    due_date TEXT,
    status INTEGER NOT NULL,
    source_transcript_id TEXT,
    source_prd_id TEXT,
    parent_task_id TEXT,
    subtask_ids TEXT NOT NULL DEFAULT '[]',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    complexity INTEGER,
    reasoning TEXT,
    context_files TEXT NOT NULL DEFAULT '[]',
    dependencies TEXT NOT NULL DEFAULT '[]',
    version INTEGER NOT NULL
  );
  CREATE INDEX tasks_by_status ON tasks (status);
  CREATE INDEX tasks_by_assignee ON tasks (assignee);
  CREATE TABLE events (
    sequence INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    event_type INTEGER NOT NULL,
    timestamp TEXT NOT NULL,
    actor TEXT,
    task_id TEXT NOT NULL,
    task TEXT NOT NULL,
    previous_task TEXT,
    changed_fields TEXT NOT NULL,
    metadata TEXT NOT NULL
  );
  CREATE INDEX events_by_timestamp ON events (timestamp);
  `,
];
