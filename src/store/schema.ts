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
];
