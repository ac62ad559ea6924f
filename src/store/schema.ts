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
  // 2: PRDs (id = hash of the text), and the enhancements and comprehension tests of orchestration.
  `
  CREATE TABLE prds (
    id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    source_path TEXT NOT NULL,
    content TEXT NOT NULL,
    parsed TEXT NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
  );
  CREATE INDEX tasks_by_source_prd ON tasks (source_prd_id);
  CREATE TABLE enhancements (
    enhancement_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    enhancement_type TEXT NOT NULL,
    content TEXT NOT NULL,
    model TEXT NOT NULL
  );
  CREATE INDEX enhancements_by_task ON enhancements (task_id);
  CREATE TABLE comprehension_tests (
    test_id TEXT PRIMARY KEY,
    task_id TEXT NOT NULL,
    timestamp TEXT NOT NULL,
    test_type TEXT NOT NULL,
    question TEXT NOT NULL,
    options TEXT NOT NULL,
    correct_answer TEXT NOT NULL,
    model TEXT NOT NULL
  );
  CREATE INDEX comprehension_tests_by_task ON comprehension_tests (task_id);
  `,
  // 3: each event also as the bytes subscribers receive (encoded once, at commit) and the fields
  // filters look at, so serving history is a read of bytes. Older rows keep encoded NULL and are
  // encoded when read.
  `
  ALTER TABLE events ADD COLUMN encoded BLOB;
  ALTER TABLE events ADD COLUMN assignee TEXT;
  ALTER TABLE events ADD COLUMN previous_assignee TEXT;
  ALTER TABLE events ADD COLUMN status INTEGER;
  ALTER TABLE events ADD COLUMN previous_status INTEGER;
  UPDATE events SET
    assignee = json_extract(task, '$.assignee'),
    status = json_extract(task, '$.status'),
    previous_assignee = json_extract(previous_task, '$.assignee'),
    previous_status = json_extract(previous_task, '$.status');
  `,
  // 4: durable consumers (consumer-store.ts): the position and settings of each, the acks above its
  // position, delivery counts of events redelivered, and its dead letters.
  `
  CREATE TABLE consumers (
    name TEXT PRIMARY KEY,
    filter TEXT NOT NULL,
    start_sequence INTEGER,
    acked_sequence INTEGER NOT NULL,
    ack_wait_ms INTEGER NOT NULL,
    max_deliver INTEGER NOT NULL,
    backoff_ms TEXT NOT NULL,
    max_in_flight INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    lost_reason TEXT
  );
  CREATE TABLE consumer_acks (
    consumer TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    PRIMARY KEY (consumer, sequence)
  ) WITHOUT ROWID;
  CREATE TABLE consumer_attempts (
    consumer TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    attempts INTEGER NOT NULL,
    PRIMARY KEY (consumer, sequence)
  ) WITHOUT ROWID;
  CREATE TABLE consumer_dead_letters (
    consumer TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    task_id TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    reason TEXT,
    dead_at TEXT NOT NULL,
    redrive INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (consumer, sequence)
  ) WITHOUT ROWID;
  `,
  // ListTasks: an index per filter shape (task-queries.ts), and the task counts total_count reads, kept by triggers in every writer's transaction (rerunnable).
  `
  CREATE INDEX IF NOT EXISTS tasks_by_archived ON tasks ((status = 10));
  CREATE INDEX IF NOT EXISTS tasks_by_assignee_archived ON tasks (assignee, (status = 10));
  CREATE INDEX IF NOT EXISTS tasks_by_assignee_status ON tasks (assignee, status);
  DROP TABLE IF EXISTS task_counts_by_status;
  DROP TABLE IF EXISTS task_counts_by_assignee;
  CREATE TABLE task_counts_by_status (
    status INTEGER PRIMARY KEY,
    n INTEGER NOT NULL
  );
  CREATE TABLE task_counts_by_assignee (
    assignee TEXT NOT NULL,
    status INTEGER NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (assignee, status)
  ) WITHOUT ROWID;
  INSERT INTO task_counts_by_status (status, n) SELECT status, count(*) FROM tasks GROUP BY status;
  INSERT INTO task_counts_by_assignee (assignee, status, n)
    SELECT assignee, status, count(*) FROM tasks WHERE assignee IS NOT NULL GROUP BY assignee, status;
  DROP TRIGGER IF EXISTS task_counts_insert;
  CREATE TRIGGER task_counts_insert AFTER INSERT ON tasks BEGIN
    INSERT INTO task_counts_by_status (status, n) VALUES (NEW.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
    INSERT INTO task_counts_by_assignee (assignee, status, n) SELECT NEW.assignee, NEW.status, 1 WHERE NEW.assignee IS NOT NULL
      ON CONFLICT (assignee, status) DO UPDATE SET n = n + 1;
  END;
  DROP TRIGGER IF EXISTS task_counts_delete;
  CREATE TRIGGER task_counts_delete AFTER DELETE ON tasks BEGIN
    UPDATE task_counts_by_status SET n = n - 1 WHERE status = OLD.status;
    UPDATE task_counts_by_assignee SET n = n - 1 WHERE assignee = OLD.assignee AND status = OLD.status;
    DELETE FROM task_counts_by_assignee WHERE assignee = OLD.assignee AND status = OLD.status AND n = 0;
  END;
  DROP TRIGGER IF EXISTS task_counts_status_change;
  CREATE TRIGGER task_counts_status_change AFTER UPDATE OF status ON tasks WHEN OLD.status IS NOT NEW.status BEGIN
    UPDATE task_counts_by_status SET n = n - 1 WHERE status = OLD.status;
    INSERT INTO task_counts_by_status (status, n) VALUES (NEW.status, 1) ON CONFLICT (status) DO UPDATE SET n = n + 1;
  END;
  DROP TRIGGER IF EXISTS task_counts_assignee_change;
  CREATE TRIGGER task_counts_assignee_change AFTER UPDATE OF status, assignee ON tasks
  WHEN OLD.status IS NOT NEW.status OR OLD.assignee IS NOT NEW.assignee BEGIN
    UPDATE task_counts_by_assignee SET n = n - 1 WHERE assignee = OLD.assignee AND status = OLD.status;
    DELETE FROM task_counts_by_assignee WHERE assignee = OLD.assignee AND status = OLD.status AND n = 0;
    INSERT INTO task_counts_by_assignee (assignee, status, n) SELECT NEW.assignee, NEW.status, 1 WHERE NEW.assignee IS NOT NULL
      ON CONFLICT (assignee, status) DO UPDATE SET n = n + 1;
  END;
  `,
  // Catch-up through a subscriber's filter (filtered-log-read.ts): an index per filter column (each entry ends with the rowid, the sequence), the "before the change" ones partial.
  `
  CREATE INDEX IF NOT EXISTS events_by_task ON events (task_id);
  CREATE INDEX IF NOT EXISTS events_by_assignee ON events (assignee);
  CREATE INDEX IF NOT EXISTS events_by_previous_assignee ON events (previous_assignee)
    WHERE previous_assignee IS NOT NULL AND previous_assignee IS NOT assignee;
  CREATE INDEX IF NOT EXISTS events_by_type ON events (event_type);
  CREATE INDEX IF NOT EXISTS events_by_status ON events (status);
  CREATE INDEX IF NOT EXISTS events_by_previous_status ON events (previous_status)
    WHERE previous_status IS NOT NULL AND previous_status IS NOT status;
  `,
  // A task's events by an integer key that grows as tasks are created (the sequence of its CREATED
  // event, tasks.task_key), so a new task's events go in at the right edge of events_by_task_key
  // rather than at a random place by task id. Tasks from before this have no key; their events stay
  // indexed by task id (events_by_unkeyed_task). No existing row is rewritten. And three indexes
  // fewer that every write paid for: tasks_by_assignee_status serves every assignee listing
  // (task-queries.ts), and retention by age finds its cutoff by bisection (event-log.ts).
  `
  ALTER TABLE tasks ADD COLUMN task_key INTEGER;
  ALTER TABLE events ADD COLUMN task_key INTEGER;
  DROP INDEX IF EXISTS events_by_task;
  DROP INDEX IF EXISTS tasks_by_assignee;
  DROP INDEX IF EXISTS tasks_by_assignee_archived;
  DROP INDEX IF EXISTS events_by_timestamp;
  CREATE INDEX events_by_task_key ON events (task_key) WHERE task_key IS NOT NULL;
  CREATE INDEX events_by_unkeyed_task ON events (task_id) WHERE task_key IS NULL;
  `,
  // Less work per write (docs/design.md#the-write-path): the event-type and status indexes of the
  // log go (no scale row reads by them; such filters read the log's shared pages and filter there),
  // and source_prd_id is indexed only where set, so a task without a PRD adds no entry.
  `
  DROP INDEX IF EXISTS events_by_type;
  DROP INDEX IF EXISTS events_by_status;
  DROP INDEX IF EXISTS events_by_previous_status;
  DROP INDEX IF EXISTS tasks_by_source_prd;
  CREATE INDEX tasks_by_source_prd ON tasks (source_prd_id) WHERE source_prd_id IS NOT NULL;
  `,
  // The log's identities (log-identity.ts), oldest first; the last is the current one. A log that
  // already has events gets one marked 'upgrade': the identity of every position taken before.
  `
  CREATE TABLE log_identities (
    ordinal INTEGER PRIMARY KEY,
    log_id TEXT NOT NULL UNIQUE,
    parent_log_id TEXT,
    parted_after INTEGER,
    reason TEXT NOT NULL,
    created_at TEXT NOT NULL
  );
  INSERT INTO log_identities (log_id, reason, created_at)
    SELECT lower(hex(randomblob(8))),
      CASE WHEN EXISTS (SELECT 1 FROM events) OR EXISTS (SELECT 1 FROM sqlite_sequence WHERE name = 'events') THEN 'upgrade' ELSE 'init' END,
      strftime('%Y-%m-%dT%H:%M:%fZ', 'now');
  `,
];
